"""Numbered streams for the suites that count what arrived (scale, cluster)."""

import threading
import time


class SeqPublisher(threading.Thread):
    """Publishes TAG-1 .. TAG-n on seq/TAG to broker at rate a second, QoS 1, each
    acknowledged by the broker. .sent: how many so far; .error: what stopped it."""

    def __init__(self, env, broker, tag, n, rate):
        super().__init__(daemon=True)
        self.env, self.broker, self.tag, self.n, self.rate = env, broker, tag, n, rate
        self.sent = 0
        self.error = None

    def run(self):
        c = self.env.mqtt(self.broker)
        try:
            t0 = time.monotonic()
            for i in range(1, self.n + 1):
                c.publish("seq/%s" % self.tag, "%s-%d" % (self.tag, i), qos=1, timeout=10)
                self.sent = i
                ahead = t0 + i / self.rate - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
        except BaseException as e:  # noqa: BLE001
            self.error = e
        finally:
            c.disconnect()
