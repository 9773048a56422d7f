package pg

import "testing"

func TestParseArchiveCommandReadsWhatArchiveCommandWrites(t *testing.T) {
	for _, c := range []struct{ agent, cfg string }{
		{"/usr/local/bin/lifeboat", "/etc/lifeboat/main.json"},
		{"/opt/life boat/lifeboat", "/etc/lifeboat/odoo main.json"},
	} {
		cmd := ArchiveCommand(c.agent, c.cfg)
		agent, cfg, ok := ParseArchiveCommand(cmd)
		if !ok || agent != c.agent || cfg != c.cfg {
			t.Errorf("ParseArchiveCommand(%q) = %q, %q, %v; want %q, %q", cmd, agent, cfg, ok, c.agent, c.cfg)
		}
	}
	for _, cmd := range []string{"", "cp %p /mnt/archive/%f", "pgbackrest --stanza=main archive-push %p", "/bin/false # lifeboat_wal_archive paused"} {
		if _, _, ok := ParseArchiveCommand(cmd); ok {
			t.Errorf("ParseArchiveCommand(%q) matched another tool's command", cmd)
		}
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"/usr/local/bin/lifeboat": "/usr/local/bin/lifeboat",
		"/opt/life boat":          "'/opt/life boat'",
		"it's":                    `'it'\''s'`,
		"":                        "''",
	} {
		if got := ShellQuote(in); got != want {
			t.Errorf("ShellQuote(%q) = %q, want %q", in, got, want)
		}
	}
}
