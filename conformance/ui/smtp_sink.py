"""A mail server for the dashboard test: plain ESMTP on 127.0.0.1, appending every message it accepts to a file
(one message after another, each ended by a line '.'). Prints its port, then serves until killed."""
import socketserver
import sys

OUT = sys.argv[1]


class Session(socketserver.StreamRequestHandler):
    def say(self, line):
        self.wfile.write((line + "\r\n").encode())
        self.wfile.flush()

    def handle(self):
        self.say("220 sink ESMTP")
        while True:
            line = self.rfile.readline()
            if not line:
                return
            cmd = line.decode(errors="replace").strip()
            verb = cmd.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                self.say("250-sink")
                self.say("250 8BITMIME")
            elif verb in ("MAIL", "RCPT", "RSET", "NOOP"):
                self.say("250 ok")
            elif verb == "DATA":
                self.say("354 go on")
                lines = []
                while True:
                    l = self.rfile.readline()
                    if not l or l in (b".\r\n", b".\n"):
                        break
                    lines.append(l[1:] if l.startswith(b"..") else l)
                with open(OUT, "ab") as f:
                    f.write(b"".join(lines) + b".\r\n")
                self.say("250 queued")
            elif verb == "QUIT":
                self.say("221 bye")
                return
            else:
                self.say("502 5.5.1 command not recognized")


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


with Server(("127.0.0.1", 0), Session) as server:
    print(server.server_address[1], flush=True)
    server.serve_forever()
