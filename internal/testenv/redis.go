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
type Redis struct {
	Addr    string // 127.0.0.1:<port>
	Port    int
	Dir     string
	LogPath string
	proc    *process
}

// StartRedis starts redis-server with its working directory under dir.
func StartRedis(ctx context.Context, dir string, detached bool) (*Redis, error) {
	bin, err := Tool("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redis-server not installed: run `make tools`: %w", err)
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	r := &Redis{Addr: fmt.Sprintf("127.0.0.1:%d", port), Port: port, Dir: dir, LogPath: filepath.Join(dir, "redis.log")}
	p, err := startProcess("redis", r.LogPath, startOptions{detached: detached}, bin,
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "no")
	if err != nil {
		return nil, err
	}
	r.proc = p
	return r, p.waitReady(ctx, 30*time.Second, func(ctx context.Context) error {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", r.Addr)
		if err != nil {
			return err
		}
		defer c.Close()
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

// Stop stops the server.
func (r *Redis) Stop() { r.proc.stop(syscall.SIGTERM, 10*time.Second) }
