#ifndef MXB_STROPHE_RUN_H
#define MXB_STROPHE_RUN_H

/* Shared by the two libstrophe modules (xmpp.c, component.c) only. */

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <strophe.h>
#include <sys/socket.h>

/*
 * Runs libstrophe after poll() woke us (or the timer did). A pass first writes what the
 * previous one queued, then reads at most 4 KiB; TLS may hold more in OpenSSL where poll
 * cannot see it. So: pass while the socket has data (bounded, so one peer cannot starve
 * the loop), then a few more to flush what the last reads queued and drain TLS records.
 */
static inline void mxb_strophe_run(xmpp_ctx_t *ctx, const int *fd)
{
	for (int i = 0; i < 64; i++) {
		xmpp_run_once(ctx, 0);
		if (*fd < 0)
			return;
		struct pollfd p = {.fd = *fd, .events = POLLIN};
		if (poll(&p, 1, 0) > 0 && (p.revents & POLLIN))
			continue;
		for (int k = 0; k < 4 && *fd >= 0; k++)
			xmpp_run_once(ctx, 0);
		return;
	}
}

/* Keepalive as libstrophe sets it, and no Nagle delay: messages are small and urgent. */
static inline int mxb_strophe_sockopt(xmpp_conn_t *conn, void *sock)
{
	int one = 1;
	setsockopt(*(int *)sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return xmpp_sockopt_cb_keepalive(conn, sock);
}

#endif
