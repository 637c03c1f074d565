"""The generated PKI: two unrelated CAs and server certificates, made with the openssl
CLI in the run's temp dir."""

import os
from collections import namedtuple

from .procs import run

Cert = namedtuple("Cert", "cert key")


class PKI:
    """Two unrelated CAs and certificates signed by them:
        ca            the good CA
        server        CN localhost, SAN DNS:localhost + IP:127.0.0.1 (signed by ca)
        wrong_host    CN/SAN wrong.example only (signed by ca)
        other_ca      an unrelated CA
        other_server  CN/SAN localhost + 127.0.0.1, signed by other_ca
    """

    def __init__(self, directory):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self.ca = self._make_ca("ca", "mxb test CA")
        self.other_ca = self._make_ca("other-ca", "mxb unrelated CA")
        self.server = self._make_cert("server", self.ca, "localhost",
                                      "DNS:localhost,IP:127.0.0.1")
        self.wrong_host = self._make_cert("wrong-host", self.ca, "wrong.example",
                                          "DNS:wrong.example")
        self.other_server = self._make_cert("other-server", self.other_ca, "localhost",
                                            "DNS:localhost,IP:127.0.0.1")

    def _p(self, name):
        return os.path.join(self.dir, name)

    def _make_ca(self, name, cn):
        key, crt = self._p(name + ".key"), self._p(name + ".pem")
        run(["openssl", "req", "-x509", "-new", "-nodes", "-newkey", "ec",
             "-pkeyopt", "ec_paramgen_curve:prime256v1", "-keyout", key, "-out", crt,
             "-days", "3", "-subj", "/CN=" + cn,
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        return Cert(crt, key)

    def _make_cert(self, name, ca, cn, san):
        key, csr, crt = self._p(name + ".key"), self._p(name + ".csr"), self._p(name + ".pem")
        ext = self._p(name + ".ext")
        with open(ext, "w") as f:
            f.write("basicConstraints=CA:FALSE\n"
                    "keyUsage=critical,digitalSignature,keyEncipherment\n"
                    "extendedKeyUsage=serverAuth,clientAuth\n"
                    "subjectAltName=%s\n" % san)
        run(["openssl", "req", "-new", "-nodes", "-newkey", "ec",
             "-pkeyopt", "ec_paramgen_curve:prime256v1", "-keyout", key, "-out", csr,
             "-subj", "/CN=" + cn])
        run(["openssl", "x509", "-req", "-in", csr, "-CA", ca.cert, "-CAkey", ca.key,
             "-CAcreateserial", "-days", "2", "-sha256", "-extfile", ext, "-out", crt])
        os.chmod(key, 0o600)
        return Cert(crt, key)
