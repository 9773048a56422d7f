package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
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

	opts startOptions
	argv []string
	proc *process
}

// StartRedis starts redis-server from a config file under dir, with its
// working directory (RDB and AOF files) in dir/data: apart from the config
// file, so a test can break saving without breaking CONFIG REWRITE.
func StartRedis(ctx context.Context, dir string, detached bool) (*Redis, error) {
	return startRedis(ctx, dir, detached, true)
}

// StartRedisWithoutConfig starts redis-server with its settings on the
// command line only, as some container images do: CONFIG REWRITE fails
// there, which is what the tests of that refusal need.
func StartRedisWithoutConfig(ctx context.Context, dir string) (*Redis, error) {
	return startRedis(ctx, dir, false, false)
}

func startRedis(ctx context.Context, dir string, detached, withConfig bool) (*Redis, error) {
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
