/*
 * test_fs_sync.c - what decides whether one syncfs may stand in for a
 * batch's fsyncs: the kernel release (5.8 and later, for any generated
 * major.minor, and nothing malformed), the filesystem type read from a
 * mountinfo line (generated lines with any number of optional fields,
 * another device's, every cut of a line), the trusted names, and the
 * unwritten bytes read from meminfo (generated values, a look-alike key,
 * a missing or cut line, overflow); then the syscall itself.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs_sync.h"
#include "xorshift.h"

static uint64_t rng = 0x5f5c5eed1234ULL;

static uint64_t next(void)
{
	return xorshift_next(&rng);
}

static void test_kernel_release(void **state)
{
	(void)state;
	static const struct {
		const char *release;
		bool reports;
	} cases[] = {
		{ "5.8.0", true },          { "5.7.19", false },
		{ "6.1.0-13-amd64", true }, { "4.19.0-6-amd64", false },
		{ "5.10", true },           { "10.0", true },
		{ "5.08", true },           { "", false },
		{ "5", false },             { "5.", false },
		{ ".8", false },            { "v5.8", false },
		{ "99999999999999999999.1", false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(fs_sync_kernel_reports_errors(cases[i].release),
				 cases[i].reports);
	for (int i = 0; i < 2000; i++) {
		unsigned major = (unsigned)(next() % 12), minor = (unsigned)(next() % 30);
		char release[64];
		snprintf(release, sizeof(release), "%u.%u.%u-x", major, minor,
			 (unsigned)(next() % 300));
		assert_int_equal(fs_sync_kernel_reports_errors(release),
				 major > 5 || (major == 5 && minor >= 8));
	}
}

/* A mountinfo line for dev major:minor of type, with optional fields. */
static size_t make_line(char *line, size_t size, unsigned major,
			unsigned minor, int optional, const char *type)
{
	int at = snprintf(line, size, "%u %u %u:%u / /mnt/m%u rw,noatime",
			  (unsigned)(next() % 999), (unsigned)(next() % 999),
			  major, minor, (unsigned)(next() % 99));
	for (int i = 0; i < optional; i++)
		at += snprintf(line + at, size - (size_t)at, " shared:%d", i + 1);
	at += snprintf(line + at, size - (size_t)at, " - %s /dev/vd%c rw", type,
		       'a' + (int)(next() % 26));
	return (size_t)at;
}

static void test_mount_type(void **state)
{
	(void)state;
	static const char *const types[] = { "ext4", "xfs", "btrfs", "nfs4",
					     "fuse.sshfs", "overlay", "tmpfs" };
	char line[512], type[32];
	for (int i = 0; i < 3000; i++) {
		const char *want = types[next() % 7];
		unsigned major = (unsigned)(next() % 300), minor = (unsigned)(next() % 300);
		size_t len = make_line(line, sizeof(line), major, minor,
				       (int)(next() % 4), want);
		assert_true(fs_sync_mount_type(line, len, major, minor, type,
					       sizeof(type)));
		assert_string_equal(type, want);
		assert_false(fs_sync_mount_type(line, len, major, minor + 1,
						type, sizeof(type)));
		assert_false(fs_sync_mount_type(line, len, major + 1, minor,
						type, sizeof(type)));
		/* A cut line gives nothing or a cut of the type, never more. */
		size_t cut = (size_t)(next() % len);
		memset(type, 0, sizeof(type));
		if (fs_sync_mount_type(line, cut, major, minor, type,
				       sizeof(type)))
			assert_memory_equal(type, want, strlen(type));
	}
	const char *long_type = "0 1 8:1 / / rw - averyveryverylongfilesystemtypename x rw";
	assert_false(fs_sync_mount_type(long_type, strlen(long_type), 8, 1,
					type, sizeof(type)));
	const char *no_dash = "0 1 8:1 / / rw ext4 /dev/vda rw";
	assert_false(fs_sync_mount_type(no_dash, strlen(no_dash), 8, 1, type,
					sizeof(type)));
	const char *bad_dev = "0 1 8x:1 / / rw - ext4 /dev/vda rw";
	assert_false(fs_sync_mount_type(bad_dev, strlen(bad_dev), 8, 1, type,
					sizeof(type)));
}

static void test_trusted_types(void **state)
{
	(void)state;
	assert_true(fs_sync_trusted_type("ext4"));
	assert_true(fs_sync_trusted_type("xfs"));
	assert_true(fs_sync_trusted_type("btrfs"));
	static const char *const not_trusted[] = {
		"ext2", "ext3", "nfs", "nfs4", "cifs", "fuse", "fuse.sshfs",
		"overlay", "tmpfs", "zfs", "ext4x", "EXT4", "", "xf",
	};
	for (size_t i = 0; i < sizeof(not_trusted) / sizeof(not_trusted[0]); i++)
		assert_false(fs_sync_trusted_type(not_trusted[i]));
}

static void test_unwritten_bytes(void **state)
{
	(void)state;
	char text[1024];
	uint64_t bytes;
	for (int i = 0; i < 2000; i++) {
		uint64_t dirty = next() % 50000000, writeback = next() % 50000000;
		int len = snprintf(text, sizeof(text),
				   "MemTotal:       24000000 kB\n"
				   "WritebackTmp:   %u kB\n"
				   "Dirty:          %llu kB\n"
				   "Writeback:      %llu kB\n"
				   "AnonPages:      1000 kB\n",
				   (unsigned)(next() % 1000),
				   (unsigned long long)dirty,
				   (unsigned long long)writeback);
		assert_true(fs_sync_unwritten_bytes(text, (size_t)len, &bytes));
		assert_true(bytes == (dirty + writeback) * 1024);
	}
	const char *no_writeback = "Dirty: 4 kB\nWritebackTmp: 0 kB\n";
	assert_false(fs_sync_unwritten_bytes(no_writeback, strlen(no_writeback),
					     &bytes));
	const char *cut = "Dirty: 4 kB\nWriteback: 12";
	assert_false(fs_sync_unwritten_bytes(cut, strlen(cut), &bytes));
	const char *not_number = "Dirty: four kB\nWriteback: 0 kB\n";
	assert_false(fs_sync_unwritten_bytes(not_number, strlen(not_number),
					     &bytes));
	const char *huge = "Dirty: 18014398509481983 kB\nWriteback: 1 kB\n";
	assert_false(fs_sync_unwritten_bytes(huge, strlen(huge), &bytes));
}

static void test_syscall(void **state)
{
	(void)state;
	char dir[] = "/tmp/yubin-fs-sync.XXXXXX";
	assert_non_null(mkdtemp(dir));
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
#ifdef HAVE_SYNCFS
	assert_int_equal(fs_sync(fd), 0);
#else
	assert_int_equal(fs_sync(fd), ENOSYS);
	assert_false(fs_sync_usable(fd));
#endif
	close(fd);
	rmdir(dir);
	assert_false(fs_sync_usable(-1));
#ifdef HAVE_SYNCFS
	assert_int_equal(fs_sync(-1), EBADF);
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kernel_release),
		cmocka_unit_test(test_mount_type),
		cmocka_unit_test(test_trusted_types),
		cmocka_unit_test(test_unwritten_bytes),
		cmocka_unit_test(test_syscall),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
