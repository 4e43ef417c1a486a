// Package config turns certificate, key and CA file paths into a *tls.Config for a
// server or a client of golog.
//
// With mutual TLS both sides prove who they are, and both trust the same CA:
//
//	client                                    server
//	RootCAs      = ca.pem                     ClientCAs    = ca.pem
//	Certificates = root-client.pem + key      Certificates = server.pem + key
//	ServerName   = "localhost"                ClientAuth   = RequireAndVerifyClientCert
//
//	   ── ClientHello ─────────────────────────────►
//	   ◄─ server.pem, proof of its key,
//	      "send me your certificate" ──────────────
//	checks server.pem: signed by ca.pem,
//	valid now, names "localhost"
//	   ── root-client.pem, proof of its key ───────►
//	                                          checks root-client.pem: signed by
//	                                          ca.pem, valid now, for client auth
//	   ◄══════════ encrypted RPCs ═════════════════►
//
// The client checks the server's name against the certificate's SANs (the hosts of
// server-csr.json), never its CN. The server checks no name: any certificate from the
// CA gets in, and which one it was (its CN) is for authorization to judge.
package config
