// mysql8auth: a MySQL-protocol server for the test stack whose accounts authenticate with
// caching_sha2_password, the default of MySQL 8.0+ (and the only built-in password plugin
// MySQL 8.4 enables by default), so that client handshakes can be proven without a MySQL 8
// server package (none is reachable here). Built on the server package of
// github.com/go-mysql-org/go-mysql, which implements the server side of the plugin:
//
//   - fast path: the server holds SHA256(SHA256(password)) for the account in its cache
//     (after one successful full authentication, as MySQL does) and checks the scramble;
//   - full authentication over TLS: the client sends the password in clear inside TLS;
//   - full authentication over plain TCP: the client asks for the server's RSA public key
//     and sends the password RSA-OAEP encrypted.
//
// It stores nothing and serves no binlog: it answers a handful of queries (SELECT 1,
// VERSION(), CURRENT_USER(), @@version, @@global.binlog_checksum, and the test-only
// `SELECT @@sluice_auth`, which tells how the asking connection authenticated), takes SET
// statements, and `FLUSH PRIVILEGES` empties the cache (the next login is a full one again).
// It also gives canned answers to what sluice's mysql connection test and binlog reader ask
// first (SHOW GLOBAL VARIABLES: a binlog in ROW format with FULL images; the user's
// privileges in information_schema: replication and SELECT; SHOW BINARY LOGS: none), so the
// connector's own code can be run through the handshake. Those answers describe no real
// state. Anything else is an error. Usage: see flags, and test/stack/mysql8auth.sh.
package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"log"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/server"
)

// authMethod is the plugin every account uses (the library switches clients to it).
const authMethod = mysql.AUTH_CACHING_SHA2_PASSWORD

// accounts is the user table: name -> password. Every account uses caching_sha2_password.
type accounts map[string]string

// provider looks accounts up for one connection and remembers whether it was asked: the
// library asks only on a full authentication (a cache hit is checked against the cache).
type provider struct {
	users accounts
	asked bool
}

func (p *provider) CheckUsername(user string) (bool, error) {
	_, ok := p.users[user]
	return ok, nil
}

func (p *provider) GetCredential(user string) (string, bool, error) {
	p.asked = true
	pw, ok := p.users[user]
	return pw, ok, nil
}

// handler answers the queries of one connection.
type handler struct {
	server.EmptyHandler
	srv     *server.Server
	version string
	user    string
	auth    string // "fast", "full-tls" or "full-rsa"
	local   string // the listener address: the cache is keyed by user@local
	id      uint32
}

var (
	selectRe = regexp.MustCompile(`(?is)^\s*select\s+(.+?)(?:\s+as\s+` + "`?" + `(\w+)` + "`?" + `)?\s*;?\s*$`)
	setRe    = regexp.MustCompile(`(?is)^\s*set\s+`)
	flushRe  = regexp.MustCompile(`(?is)^\s*flush\s+privileges\s*;?\s*$`)
	// Canned answers for the sluice mysql connector's connection test and binlog start.
	variablesRe  = regexp.MustCompile(`(?is)^\s*show\s+global\s+variables\b`)
	userPrivsRe  = regexp.MustCompile(`(?is)^\s*select\s+privilege_type\s+from\s+information_schema\.user_privileges\b`)
	otherPrivsRe = regexp.MustCompile(`(?is)^\s*select\s+privilege_type\s+from\s+information_schema\.\w+_privileges\b`)
	binaryLogsRe = regexp.MustCompile(`(?is)^\s*show\s+(binary|master)\s+logs\s*;?\s*$`)
)

// canned answers the sluice connector's first queries (see the top of this file), or nil.
func (h *handler) canned(query string) (*mysql.Result, error) {
	var names []string
	var rows [][]interface{}
	switch {
	case variablesRe.MatchString(query):
		names = []string{"Variable_name", "Value"}
		rows = [][]interface{}{
			{"version", h.version}, {"version_comment", "mysql8auth"}, {"log_bin", "ON"}, {"binlog_format", "ROW"},
			{"binlog_row_image", "FULL"}, {"server_id", "1"}, {"gtid_mode", "OFF"},
		}
	case userPrivsRe.MatchString(query):
		names = []string{"PRIVILEGE_TYPE"}
		rows = [][]interface{}{{"REPLICATION SLAVE"}, {"REPLICATION CLIENT"}, {"SELECT"}}
	case otherPrivsRe.MatchString(query):
		names = []string{"PRIVILEGE_TYPE"}
	case binaryLogsRe.MatchString(query):
		names = []string{"Log_name", "File_size"}
	default:
		return nil, nil
	}
	rs, err := mysql.BuildSimpleTextResultset(names, rows)
	if err != nil {
		return nil, err
	}
	return &mysql.Result{Resultset: rs}, nil
}

func (h *handler) value(expr string) (interface{}, bool) {
	switch strings.ToLower(strings.TrimSpace(expr)) {
	case "1":
		return int64(1), true
	case "version()", "@@version", "@@global.version":
		return h.version, true
	case "current_user()", "user()":
		return h.user + "@%", true
	case "connection_id()":
		return int64(h.id), true
	case "@@global.binlog_checksum", "@@binlog_checksum":
		return "NONE", true
	case "@@sluice_auth":
		return authMethod + " " + h.auth, true
	}
	return nil, false
}

func (h *handler) HandleQuery(query string) (*mysql.Result, error) {
	if flushRe.MatchString(query) {
		h.srv.InvalidateCache(h.user, h.local)
		return &mysql.Result{}, nil
	}
	if setRe.MatchString(query) {
		return &mysql.Result{}, nil
	}
	if r, err := h.canned(query); r != nil || err != nil {
		return r, err
	}
	if m := selectRe.FindStringSubmatch(query); m != nil {
		if v, ok := h.value(m[1]); ok {
			name := m[2]
			if name == "" {
				name = strings.TrimSpace(m[1])
			}
			rs, err := mysql.BuildSimpleTextResultset([]string{name}, [][]interface{}{{v}})
			if err != nil {
				return nil, err
			}
			return &mysql.Result{Resultset: rs}, nil
		}
	}
	return nil, mysql.NewError(mysql.ER_NOT_SUPPORTED_YET, fmt.Sprintf("mysql8auth answers only SELECT 1, VERSION(), CURRENT_USER(), CONNECTION_ID(), @@version, @@global.binlog_checksum, @@sluice_auth, SET, FLUSH PRIVILEGES and the sluice connector's first queries; not: %.80s", query))
}

func (h *handler) HandleOtherCommand(cmd byte, data []byte) error {
	if cmd == mysql.COM_BINLOG_DUMP || cmd == mysql.COM_BINLOG_DUMP_GTID || cmd == mysql.COM_REGISTER_SLAVE {
		return mysql.NewError(mysql.ER_NOT_SUPPORTED_YET, "mysql8auth serves no binlog (it proves the caching_sha2_password handshake only)")
	}
	return h.EmptyHandler.HandleOtherCommand(cmd, data)
}

// keyPair loads the server certificate and key from dir, or creates a CA and a server
// certificate for 127.0.0.1 / localhost signed by it (RSA: the private key also decrypts
// the RSA-encrypted passwords of full authentication over plain TCP).
func keyPair(dir string) (tls.Certificate, []byte, error) {
	caPath, certPath, keyPath := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "server-cert.pem"), filepath.Join(dir, "server-key.pem")
	if _, err := os.Stat(keyPath); errors.Is(err, os.ErrNotExist) {
		if err := writeKeyPair(caPath, certPath, keyPath); err != nil {
			return tls.Certificate{}, nil, err
		}
	}
	cert, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	key, ok := cert.PrivateKey.(*rsa.PrivateKey)
	if !ok {
		return tls.Certificate{}, nil, fmt.Errorf("%s: the key must be RSA", keyPath)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	pub := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	if err := os.WriteFile(filepath.Join(dir, "public-key.pem"), pub, 0o644); err != nil {
		return tls.Certificate{}, nil, err
	}
	return cert, pub, nil
}

func writeKeyPair(caPath, certPath, keyPath string) error {
	now := time.Now()
	caKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sluice test stack mysql8auth CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(10, 0, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDer, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(10, 0, 0),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDer, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	write := func(path, typ string, der []byte, mode os.FileMode) error {
		return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), mode)
	}
	if err := write(caPath, "CERTIFICATE", caDer, 0o644); err != nil {
		return err
	}
	if err := write(certPath, "CERTIFICATE", leafDer, 0o644); err != nil {
		return err
	}
	return write(keyPath, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key), 0o600)
}

func main() {
	listen := flag.String("listen", "127.0.0.1:53316", "address to listen on (loopback)")
	dir := flag.String("dir", ".", "directory for ca.pem, server-cert.pem, server-key.pem (created when absent) and public-key.pem")
	version := flag.String("version", "8.4.0-mysql8auth", "server version to announce")
	users := flag.String("users", "sluice:sluice", "comma-separated user:password accounts (caching_sha2_password)")
	flag.Parse()

	accts := accounts{}
	for _, up := range strings.Split(*users, ",") {
		u, p, ok := strings.Cut(up, ":")
		if !ok || u == "" {
			log.Fatalf("bad -users entry %q (want user:password)", up)
		}
		accts[u] = p
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		log.Fatal(err)
	}
	cert, pub, err := keyPair(*dir)
	if err != nil {
		log.Fatalf("TLS key pair: %v", err)
	}
	tlsConf := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	srv := server.NewServer(*version, mysql.DEFAULT_COLLATION_ID, authMethod, pub, tlsConf)

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("mysql8auth %s listening on %s (accounts: %d, %s, TLS and RSA)", *version, ln.Addr(), len(accts), authMethod)
	var mu sync.Mutex
	next := uint32(0)
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go func(c net.Conn) {
			// The protocol library panics on some malformed handshakes (e.g. a client that
			// announces CLIENT_PLUGIN_AUTH but sends no plugin name, as the mysql package
			// and its @vlasky/mysql fork do): fail that connection, not the server.
			defer func() {
				if r := recover(); r != nil {
					log.Printf("connection from %s: handshake failed: protocol library panicked: %v", c.RemoteAddr(), r)
					_ = c.Close()
				}
			}()
			mu.Lock()
			next++
			id := next
			mu.Unlock()
			p := &provider{users: accts}
			h := &handler{srv: srv, version: *version, local: c.LocalAddr().String(), id: id}
			// The handshake reads the client's first packets: never wait for ever on them.
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			conn, err := server.NewCustomizedConn(c, srv, p, h)
			if err != nil {
				log.Printf("conn %d from %s: authentication failed: %v", id, c.RemoteAddr(), err)
				return
			}
			_ = c.SetDeadline(time.Time{})
			h.user = conn.GetUser()
			_, isTLS := conn.Conn.Conn.(*tls.Conn)
			switch {
			case !p.asked:
				h.auth = "fast"
			case isTLS:
				h.auth = "full-tls"
			default:
				h.auth = "full-rsa"
			}
			log.Printf("conn %d from %s: %s authenticated (%s %s)", id, c.RemoteAddr(), h.user, authMethod, h.auth)
			for !conn.Closed() {
				if err := conn.HandleCommand(); err != nil {
					break
				}
			}
		}(c)
	}
}
