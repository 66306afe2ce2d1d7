"""A receiver on 127.0.0.1 that answers one byte every 50 ms (15 s in all): each read arrives
in time, so only a deadline on the whole call cuts it off."""

import socket
import threading
import time

ANSWER = b"HTTP/1.1 200 OK\r\nX-Padding: " + b"a" * 300 + b"\r\nContent-Length: 2\r\n\r\n{}"


class Trickler:
    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.sent = 0
        threading.Thread(target=self._answer, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}/hook"

    @property
    def cut_off(self) -> bool:
        return self.sent < len(ANSWER)

    def _answer(self):
        conn, _ = self.listener.accept()
        with conn:
            conn.recv(65536)  # the request
            for start in range(len(ANSWER)):
                time.sleep(0.05)  # the receiver's pace, not something a test measures
                try:
                    conn.sendall(ANSWER[start : start + 1])
                except OSError:  # the caller hung up
                    return
                self.sent += 1

    def close(self):
        self.listener.close()
