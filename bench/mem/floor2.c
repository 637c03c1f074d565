/* The library floor with live sessions: one libstrophe client session (STARTTLS, SCRAM, CA
 * file) and one libmosquitto TLS session, nothing else; prints VmHWM etc. once both are up.
 * usage: floor2 XMPP_PORT JID PASSWORD MQTT_PORT CAFILE */
#include <mosquitto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strophe.h>
#include <time.h>
static int xup, mup;
static void status(const char *what)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	printf("%-34s", what);
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, "VmHWM", 5) || !strncmp(line, "RssAnon", 7) ||
			!strncmp(line, "RssFile", 7)) {
			line[strlen(line) - 1] = 0;
			printf(" %s", line);
		}
	printf("\n");
	fclose(f);
}
static void on_conn(xmpp_conn_t *c, xmpp_conn_event_t ev, int err, xmpp_stream_error_t *se, void *d)
{
	(void)c;
	(void)err;
	(void)se;
	(void)d;
	xup = ev == XMPP_CONN_CONNECT ? 1 : -1;
}
static void on_mconn(struct mosquitto *m, void *d, int rc)
{
	(void)m;
	(void)d;
	mup = rc == 0 ? 1 : -1;
}
int main(int argc, char **argv)
{
	if (argc < 6)
		return 2;
	status("start");
	xmpp_initialize();
	mosquitto_lib_init();
	xmpp_ctx_t *ctx = xmpp_ctx_new(NULL, NULL);
	xmpp_conn_t *conn = xmpp_conn_new(ctx);
	xmpp_conn_set_flags(conn, XMPP_CONN_FLAG_MANDATORY_TLS);
	xmpp_conn_set_jid(conn, argv[2]);
	xmpp_conn_set_pass(conn, argv[3]);
	xmpp_conn_set_cafile(conn, argv[5]);
	if (xmpp_connect_client(conn, "127.0.0.1", atoi(argv[1]), on_conn, NULL) != XMPP_EOK)
		return 3;
	struct mosquitto *m = mosquitto_new("floor2", true, NULL);
	mosquitto_connect_callback_set(m, on_mconn);
	mosquitto_tls_set(m, argv[5], NULL, NULL, NULL, NULL);
	mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
	if (mosquitto_connect(m, "127.0.0.1", atoi(argv[4]), 30) != MOSQ_ERR_SUCCESS)
		return 4;
	for (int i = 0; i < 400 && (xup <= 0 || mup <= 0); i++) {
		xmpp_run_once(ctx, 5);
		mosquitto_loop(m, 5, 1);
		if (xup < 0 || mup < 0)
			return 5;
	}
	if (xup <= 0 || mup <= 0)
		return 6;
	for (int i = 0; i < 50; i++) {
		xmpp_run_once(ctx, 5);
		mosquitto_loop(m, 5, 1);
	}
	status("both sessions up (TLS)");
	return 0;
}
