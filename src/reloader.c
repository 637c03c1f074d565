#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "reloader.h"

/* "mxbr": a SIGHUP with this value asks for an answer; the answer adds the result to it. */
#define ASK 0x6d786272

int mxb_reloader_run(const char *pid_text, int timeout_s)
{
	char *end;
	errno = 0;
	long pid = strtol(pid_text, &end, 10);
	if (errno || end == pid_text || *end || pid <= 1 || pid > INT_MAX) {
		fprintf(stderr, "mqtt-xmpp-bridge: --reload needs the daemon's pid, not '%s'\n",
			pid_text);
		return 1;
	}
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, MXB_RELOADER_SIGNAL);
	/* Blocked before asking, so that an answer that comes at once is not lost. */
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0 ||
		sigqueue((pid_t)pid, SIGHUP, (union sigval){.sival_int = ASK}) < 0) {
		fprintf(stderr, "mqtt-xmpp-bridge: cannot signal %ld: %s\n", pid, strerror(errno));
		return 1;
	}
	struct timespec deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += timeout_s;
	for (;;) {
		struct timespec now, left;
		clock_gettime(CLOCK_MONOTONIC, &now);
		left.tv_sec = deadline.tv_sec - now.tv_sec;
		left.tv_nsec = deadline.tv_nsec - now.tv_nsec;
		if (left.tv_nsec < 0) {
			left.tv_sec--;
			left.tv_nsec += 1000000000L;
		}
		if (left.tv_sec < 0)
			break;
		siginfo_t si;
		int s = sigtimedwait(&set, &si, &left);
		if (s < 0 && errno == EINTR)
			continue;
		if (s < 0)
			break;
		/* Only the daemon's own answer counts. */
		if (si.si_pid != (pid_t)pid || si.si_code != SI_QUEUE)
			continue;
		switch (si.si_value.sival_int - ASK) {
		case MXB_RELOAD_APPLIED:
			return 0;
		case MXB_RELOAD_REFUSED:
			fprintf(stderr, "mqtt-xmpp-bridge: the configuration has errors (see the "
					"log); the running one stays\n");
			return 1;
		case MXB_RELOAD_STOPPING:
			fprintf(stderr, "mqtt-xmpp-bridge: the daemon is shutting down\n");
			return 1;
		default:
			continue;
		}
	}
	fprintf(stderr, "mqtt-xmpp-bridge: no answer from %ld within %d s\n", pid, timeout_s);
	return 1;
}

bool mxb_reloader_answer(int32_t sender, int32_t code, int32_t value, enum mxb_reload_result r)
{
	if (code != SI_QUEUE || value != ASK || sender <= 0)
		return false;
	return sigqueue((pid_t)sender, MXB_RELOADER_SIGNAL,
		       (union sigval){.sival_int = ASK + (int)r}) == 0;
}
