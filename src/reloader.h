#ifndef MXB_RELOADER_H
#define MXB_RELOADER_H

/*
 * A reload that the caller can wait for: `mqtt-xmpp-bridge --reload PID` (the unit's
 * ExecReload) queues SIGHUP to the daemon with a value that asks for an answer, and the
 * daemon answers the sender with SIGUSR2 once the new configuration is applied or
 * refused. systemctl reload then returns when the reload is done, and fails when the
 * configuration had errors. Debian 12's systemd (252) has no Type=notify-reload, and an
 * ExecReload that only sends SIGHUP returns before the daemon has even read the file.
 *
 * A plain SIGHUP (kill -HUP) reloads as before and gets no answer: the daemon signals
 * only a process that asked, so a shell that sent SIGHUP is never sent SIGUSR2.
 */

#include <stdbool.h>
#include <stdint.h>

#define MXB_RELOADER_SIGNAL SIGUSR2

enum mxb_reload_result {
	MXB_RELOAD_APPLIED,
	MXB_RELOAD_REFUSED, /* the configuration has errors; the running one stays */
	MXB_RELOAD_STOPPING, /* the daemon is shutting down */
};

/*
 * The client side: signals pid (a decimal string) and waits at most timeout_s for its
 * answer. Prints what happened on stderr. Returns the process's exit status: 0 when the
 * reload was applied, 1 otherwise.
 */
int mxb_reloader_run(const char *pid, int timeout_s);

/*
 * The daemon side: after the reload that the SIGHUP (sender, si_code and value of its
 * siginfo) asked for, answers the sender when it asked for one. Returns whether it did.
 */
bool mxb_reloader_answer(int32_t sender, int32_t code, int32_t value, enum mxb_reload_result r);

#endif
