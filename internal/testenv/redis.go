package testenv

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Redis is a running redis-server with persistence off by default; tests and
// the provider turn it on through CONFIG SET, as they would in production.
// It runs from a config file (ConfigPath) so that CONFIG REWRITE persists
// those settings across Restart, as on a packaged server.
type Redis struct {
	Addr       string // 127.0.0.1:<port>
	Port       int
	Dir        string // holds the config file and the log
	DataDir    string // the server's working directory: RDB and AOF files
	LogPath    string
	ConfigPath string // empty when started by StartRedisWithoutConfig
	// TLS is set on a server started by NewRedisTLS: it serves TLS only,
	// on Port, with a certificate naming TLS.ServerName alone.
	TLS *RedisTLS

	opts startOptions
	argv []string
	proc *process
}

// StartRedis starts redis-server from a config file under dir, with its
// working directory (RDB and AOF files) in dir/data: apart from the config
// file, so a test can break saving without breaking CONFIG REWRITE.
func StartRedis(ctx context.Context, dir string, detached bool) (*Redis, error) {
	return startRedis(ctx, dir, detached, true, nil)
}

// NewRedis is a test's own Redis (StartRedis under a fresh folder),
// stopped when the test ends.
func NewRedis(t testing.TB) *Redis {
	t.Helper()
	return newRedis(t, nil)
}

// RedisTLS is how a client reaches a TLS-only Redis: the CA's certificate
// (PEM) to trust and the one name the server's certificate holds (not the
// address' host, so a client that does not set it is refused).
type RedisTLS struct {
	CACert     string
	ServerName string
}

// NewRedisTLS is NewRedis serving TLS only (redis-server --tls-port, the
// plain port off), with a certificate for serverName signed by a CA of
// its own, as a managed Redis with a private CA is; clients need no
// certificate.
func NewRedisTLS(t testing.TB, serverName string) *Redis {
	t.Helper()
	return newRedis(t, &RedisTLS{ServerName: serverName})
}

func newRedis(t testing.TB, withTLS *RedisTLS) *Redis {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := startRedis(ctx, Dir(t), false, true, withTLS)
	if err != nil {
		t.Fatal(err)
	}
	// Registered after Dir's removal, so it runs first.
	t.Cleanup(r.Stop)
	return r
}

// StartRedisWithoutConfig starts redis-server with its settings on the
// command line only, as some container images do: CONFIG REWRITE fails
// there, which is what the tests of that refusal need.
func StartRedisWithoutConfig(ctx context.Context, dir string) (*Redis, error) {
	return startRedis(ctx, dir, false, false, nil)
}

func startRedis(ctx context.Context, dir string, detached, withConfig bool, withTLS *RedisTLS) (*Redis, error) {
	bin, err := Tool("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redis-server not installed: run `make tools`: %w", err)
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return nil, err
	}
	r := &Redis{Addr: fmt.Sprintf("127.0.0.1:%d", port), Port: port, Dir: dir, DataDir: data, LogPath: filepath.Join(dir, "redis.log"),
		opts: startOptions{detached: detached}}
	settings := []string{"port", strconv.Itoa(port), "bind", "127.0.0.1", "dir", data,
		"save", `""`, "appendonly", "no", "daemonize", "no", "protected-mode", "no"}
	if withTLS != nil {
		ca, cert, key, err := certificates(withTLS.ServerName)
		if err != nil {
			return nil, err
		}
		files := map[string][]byte{"ca.pem": ca, "cert.pem": cert, "key.pem": key}
		for name, b := range files {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
				return nil, err
			}
		}
		r.TLS = &RedisTLS{CACert: string(ca), ServerName: withTLS.ServerName}
		settings = append(settings[:0:0], "port", "0", "tls-port", strconv.Itoa(port), "bind", "127.0.0.1", "dir", data,
			"save", `""`, "appendonly", "no", "daemonize", "no", "protected-mode", "no",
			"tls-cert-file", filepath.Join(dir, "cert.pem"), "tls-key-file", filepath.Join(dir, "key.pem"),
			"tls-ca-cert-file", filepath.Join(dir, "ca.pem"), "tls-auth-clients", "no")
	}
	if withConfig {
		r.ConfigPath = filepath.Join(dir, "redis.conf")
		var conf []byte
		for i := 0; i < len(settings); i += 2 {
			conf = fmt.Appendf(conf, "%s %s\n", settings[i], settings[i+1])
		}
		if err := os.WriteFile(r.ConfigPath, conf, 0o644); err != nil {
			return nil, err
		}
		r.argv = []string{bin, r.ConfigPath}
	} else {
		r.argv = []string{bin}
		for i := 0; i < len(settings); i += 2 {
			v := settings[i+1]
			if v == `""` {
				v = ""
			}
			r.argv = append(r.argv, "--"+settings[i], v)
		}
	}
	return r, r.Start(ctx)
}

// Start starts the server again after Stop, from the same config file: what
// CONFIG REWRITE wrote there is what it comes back with.
func (r *Redis) Start(ctx context.Context) error {
	p, err := startProcess("redis", r.LogPath, r.opts, r.argv...)
	if err != nil {
		return err
	}
	r.proc = p
	return p.waitReady(ctx, 30*time.Second, func(ctx context.Context) error {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", r.Addr)
		if err != nil {
			return err
		}
		if r.TLS != nil {
			roots := x509.NewCertPool()
			roots.AppendCertsFromPEM([]byte(r.TLS.CACert))
			tc := tls.Client(c, &tls.Config{RootCAs: roots, ServerName: r.TLS.ServerName, MinVersion: tls.VersionTLS12})
			if err := tc.HandshakeContext(ctx); err != nil {
				_ = c.Close()
				return err
			}
			c = tc
		}
		defer func() { _ = c.Close() }()
		_ = c.SetDeadline(time.Now().Add(time.Second))
		if _, err := c.Write([]byte("PING\r\n")); err != nil {
			return err
		}
		buf := make([]byte, 7)
		n, err := c.Read(buf)
		if err != nil {
			return err
		}
		if string(buf[:n]) != "+PONG\r\n" {
			return fmt.Errorf("unexpected reply %q", buf[:n])
		}
		return nil
	})
}

// Restart stops the server and starts it again from its config file.
func (r *Redis) Restart(ctx context.Context) error {
	r.Stop()
	return r.Start(ctx)
}

// Stop stops the server.
func (r *Redis) Stop() { r.proc.stop(syscall.SIGTERM, 10*time.Second) }

// Pid is the server's process id.
func (r *Redis) Pid() int { return r.proc.cmd.Process.Pid }
