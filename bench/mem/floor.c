/* Memory floor of the libraries mqtt-xmpp-bridge links: MODE 0 does nothing; 1 initializes
 * the libraries; 2 also makes two TLS client contexts with the CA loaded (what libstrophe and
 * libmosquitto each do). Prints VmHWM/RssAnon/RssFile. */
#include <cjson/cJSON.h>
#include <libconfig.h>
#include <mosquitto.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strophe.h>
static void status(const char *what)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	printf("%-40s", what);
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, "VmHWM", 5) || !strncmp(line, "RssAnon", 7) ||
			!strncmp(line, "RssFile", 7)) {
			line[strlen(line) - 1] = 0;
			printf(" %s", line);
		}
	printf("\n");
	fclose(f);
}
int main(int argc, char **argv)
{
	int mode = argc > 1 ? atoi(argv[1]) : 0;
	const char *ca = argc > 2 ? argv[2] : "/etc/ssl/certs/ca-certificates.crt";
	status("start (libraries mapped)");
	if (mode >= 1) {
		xmpp_initialize();
		mosquitto_lib_init();
		OPENSSL_init_ssl(0, NULL);
		xmpp_ctx_t *ctx = xmpp_ctx_new(NULL, NULL);
		xmpp_conn_t *conn = xmpp_conn_new(ctx);
		struct mosquitto *m = mosquitto_new("x", true, NULL);
		(void)conn;
		(void)m;
		status("libs initialized, ctx/conn/mosq made");
	}
	if (mode >= 2) {
		for (int i = 0; i < 2; i++) {
			SSL_CTX *c = SSL_CTX_new(TLS_client_method());
			if (!SSL_CTX_load_verify_locations(c, ca, NULL))
				puts("CA load failed");
			SSL *s = SSL_new(c);
			(void)s;
		}
		status("+ 2 SSL_CTX with CA loaded, 2 SSL");
	}

	return 0;
}
