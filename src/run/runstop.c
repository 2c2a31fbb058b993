/* runstop.c - the stop flag and the handler of SIGINT, SIGTERM, SIGHUP. */
#include "config.h"

#include "runstop.h"

#include <signal.h>
#include <string.h>

static const int stop_signals[] = { SIGINT, SIGTERM, SIGHUP };

static volatile sig_atomic_t stop_signal;
/* Written once, before the handler can see a signal from it. */
static volatile sig_atomic_t forwarder_pid;

/* Async-signal-safe: sig_atomic_t stores, sigaction and raise only. */
static void on_stop_signal(int sig, siginfo_t *info, void *context)
{
	(void)context;
	bool forwarded = forwarder_pid != 0 && info &&
			 info->si_pid == (pid_t)forwarder_pid;
	if (stop_signal == 0) {
		stop_signal = sig;
		return;
	}
	/* A second ^C means "now": the default action, at once.  Repeated
	   SIGTERM and SIGHUP are not: a service manager may send them to
	   every process of the run, the -j parent forwards them too. */
	if (sig == SIGINT && !forwarded) {
		struct sigaction dfl;
		memset(&dfl, 0, sizeof(dfl));
		dfl.sa_handler = SIG_DFL;
		sigemptyset(&dfl.sa_mask);
		sigaction(sig, &dfl, NULL);
		raise(sig);
	}
}

void runstop_catch_signals(void)
{
	struct sigaction catcher;
	memset(&catcher, 0, sizeof(catcher));
	catcher.sa_sigaction = on_stop_signal;
	catcher.sa_flags = SA_SIGINFO; /* no SA_RESTART: waits see EINTR */
	sigemptyset(&catcher.sa_mask);
	for (size_t i = 0; i < sizeof(stop_signals) / sizeof(stop_signals[0]); i++)
		sigaddset(&catcher.sa_mask, stop_signals[i]);
	for (size_t i = 0; i < sizeof(stop_signals) / sizeof(stop_signals[0]); i++) {
		/* Ignored when we started (nohup, a background job): stays so. */
		struct sigaction inherited;
		if (sigaction(stop_signals[i], NULL, &inherited) == 0 &&
		    inherited.sa_handler == SIG_IGN)
			continue;
		sigaction(stop_signals[i], &catcher, NULL);
	}
}

void runstop_set_forwarder(pid_t parent_pid)
{
	forwarder_pid = (sig_atomic_t)parent_pid;
}

bool run_stopping(void)
{
	return stop_signal != 0;
}

int run_stop_signal(void)
{
	return stop_signal;
}

const char *run_stop_signal_name(void)
{
	switch (stop_signal) {
	case SIGINT: return "SIGINT";
	case SIGTERM: return "SIGTERM";
	case SIGHUP: return "SIGHUP";
	default: return "a signal";
	}
}

int run_check_stop(const char *what, struct yb_error *err)
{
	if (!run_stopping())
		return YB_OK;
	return yb_fail(err, YB_ERR_TEMP,
		       "%s: stopped by %s before the next message; what was "
		       "delivered is recorded, the rest is fetched next run",
		       what, run_stop_signal_name());
}
