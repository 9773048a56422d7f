package testenv

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// CreateUser creates the MinIO user accessKey/secretKey with the policy
// document (S3/IAM JSON) as its only policy, named policyName, the way an
// operator would: with MinIO's client mc, a separate process
// (`mc admin user add`, `mc admin policy create`, `mc admin policy
// attach`). Calling it again with another policy name attaches that one
// too; with the same name, it replaces the document. mc refuses a document MinIO cannot parse (an unknown action,
// an unsupported condition), and its message is in the error.
func (m *MinIO) CreateUser(ctx context.Context, accessKey, secretKey, policyName, document string) error {
	dir := filepath.Join(m.Dir, "mc")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	file := filepath.Join(dir, policyName+".json")
	if err := os.WriteFile(file, []byte(document), 0o600); err != nil {
		return err
	}
	for _, args := range [][]string{
		{"admin", "user", "add", mcAlias, accessKey, secretKey},
		{"admin", "policy", "create", mcAlias, policyName, file},
		{"admin", "policy", "attach", mcAlias, policyName, "--user", accessKey},
	} {
		out, err := m.mc(ctx, dir, args...)
		if err != nil && args[1] == "policy" && args[2] == "attach" && strings.Contains(out, "already") {
			// Attached by an earlier call ("already in effect"): the
			// document itself was just replaced by policy create.
			continue
		}
		if err != nil {
			return fmt.Errorf("mc %s: %w: %s", strings.Join(args[:3], " "), err, out)
		}
	}
	return nil
}

const mcAlias = "lifeboat"

// mc runs MinIO's client against this server (Endpoint) as its root user
// (AccessKey, SecretKey); only those fields and Dir are needed. The server
// is named by MC_HOST_<alias>, so no mc configuration is written but the
// one in configDir.
func (m *MinIO) mc(ctx context.Context, configDir string, args ...string) (string, error) {
	bin, err := Tool("mc")
	if err != nil {
		return "", err
	}
	ep, err := url.Parse(m.Endpoint)
	if err != nil {
		return "", err
	}
	host := url.URL{Scheme: ep.Scheme, User: url.UserPassword(m.AccessKey, m.SecretKey), Host: ep.Host}
	cmd := exec.CommandContext(ctx, bin, append([]string{"--config-dir", configDir, "--no-color"}, args...)...)
	cmd.Env = append(os.Environ(), "MC_HOST_"+mcAlias+"="+host.String())
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}
