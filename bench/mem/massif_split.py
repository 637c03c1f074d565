import re, sys, collections
lines = open(sys.argv[1]).read().split("\n")
start = [i for i, l in enumerate(lines) if l == "heap_tree=peak"][0] - 6
j = start + 7
rx = re.compile(r"^( *)n(\d+): (\d+) (.*)$")
stack = []; cats = collections.Counter(); own = collections.Counter()
SRC = re.compile(r"\((\w+\.c):(\d+)\)")
ALLOC = ("malloc", "calloc", "realloc", "strdup", "strndup", "__libc_", "CRYPTO_", "xmpp_alloc", "cJSON_")
while j < len(lines) and rx.match(lines[j]):
    m = rx.match(lines[j]); d = len(m.group(1)); nch = int(m.group(2)); b = int(m.group(3))
    stack = stack[:d] + [m.group(4)]
    if nch == 0 and d > 0:
        fr = stack[2:] if len(stack) > 2 else []   # stack[1] is the alloc fn
        # first frame that is not glibc strdup etc.
        k = 0
        while k < len(fr) and re.search(r": (strdup|strndup|__strdup) ", fr[k]): k += 1
        first = fr[k] if k < len(fr) else stack[-1]
        text = " ".join(stack)
        if "X509_STORE_set_default_paths" in text or ("libexpat" in first and "libcrypto" in text):
            c = "libs: system CA bundle (libstrophe -> X509_STORE_set_default_paths)"
        elif SRC.search(first) and "strophe_run.h" not in first:
            c = "bridge: direct malloc from src/"
            own[re.sub(r"^0x[0-9A-F]+: ", "", first)] += b
        elif "libstrophe" in text or "mxb_xmpp" in text:
            c = "libs: libstrophe + its TLS (STARTTLS, CA file, session)"
        elif "libmosquitto" in text or "mqtt.c" in text:
            c = "libs: libmosquitto + its TLS (SSL_CTX, CA file, session)"
        elif "pthread_once" in text or "OPENSSL_init" in text or "ERR_load" in text:
            c = "libs: OpenSSL one-time init"
        elif "config.c" in text or "libconfig" in text:
            c = "libs: libconfig"
        else:
            c = "other: " + first[:90]
        cats[c] += b
    j += 1
hdr = dict(l.split("=", 1) for l in lines[start:start+6] if "=" in l)
print("peak useful heap %s B, malloc overhead %s B" % (hdr["mem_heap_B"], hdr["mem_heap_extra_B"]))
for c, b in cats.most_common(): print("%8.1f KB  %s" % (b / 1024, c))
print("bridge-owned by function:")
for f, b in own.most_common(25): print("   %8.1f KB  %s" % (b / 1024, f))
