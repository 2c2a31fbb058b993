/* test_imap_notify.c - the NOTIFY SET command --watch sends. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "imap_notify.h"

static void test_names_in_order_with_both_events(void **state)
{
	(void)state;
	char *names[] = { "INBOX", "\"Work\"", "\"Archive/2024\"" };
	char *command = imap_notify_command(names, 3);
	assert_non_null(command);
	assert_string_equal(command, "NOTIFY SET (mailboxes (INBOX \"Work\" "
			    "\"Archive/2024\") (MessageNew MessageExpunge))");
	free(command);
	command = imap_notify_command(names, 1);
	assert_string_equal(command, "NOTIFY SET (mailboxes (INBOX) "
			    "(MessageNew MessageExpunge))");
	free(command);
}

static void test_no_names_is_no_command(void **state)
{
	(void)state;
	assert_null(imap_notify_command(NULL, 0));
}

/* Up to the limit exactly, and not a byte beyond. */
static void test_length_is_capped(void **state)
{
	(void)state;
	const size_t frame = strlen("NOTIFY SET (mailboxes () "
				    "(MessageNew MessageExpunge))");
	size_t fill = IMAP_NOTIFY_COMMAND_MAX - frame;
	char *name = malloc(fill + 2);
	assert_non_null(name);
	memset(name, 'a', fill + 1);
	name[fill] = '\0';
	char *names[] = { name };
	char *command = imap_notify_command(names, 1);
	assert_non_null(command);
	assert_int_equal(strlen(command), IMAP_NOTIFY_COMMAND_MAX);
	free(command);
	name[fill] = 'a';
	name[fill + 1] = '\0';
	assert_null(imap_notify_command(names, 1));
	/* Many short names add up the same way. */
	char *many[IMAP_NOTIFY_COMMAND_MAX / 2];
	for (size_t i = 0; i < sizeof(many) / sizeof(many[0]); i++)
		many[i] = "x";
	assert_null(imap_notify_command(many, sizeof(many) / sizeof(many[0])));
	free(name);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_in_order_with_both_events),
		cmocka_unit_test(test_no_names_is_no_command),
		cmocka_unit_test(test_length_is_capped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
