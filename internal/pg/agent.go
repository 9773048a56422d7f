package pg

import (
	"regexp"
	"strings"
)

// ArchiveCommand is the archive_command that hands each WAL file to the
// lifeboat agent at path agent, configured by the file at config. Nothing
// secret goes in it: any role with pg_read_all_settings can read it.
func ArchiveCommand(agent, config string) string {
	return ShellQuote(agent) + " wal-push --config " + ShellQuote(config) + " %p"
}

// RestoreCommand is the restore_command that fetches WAL through the agent.
func RestoreCommand(agent, config string) string {
	return ShellQuote(agent) + " wal-fetch --config " + ShellQuote(config) + " %f %p"
}

// RestoreCommandSpooled is RestoreCommand taking a WAL file from the spool
// directory first, where a restore prefetched it (verified), and from the
// repository when it is not there.
func RestoreCommandSpooled(agent, config, spool string) string {
	return ShellQuote(agent) + " wal-fetch --config " + ShellQuote(config) + " --spool " + ShellQuote(spool) + " %f %p"
}

// archiveCommandRE matches what ArchiveCommand writes, each path bare or
// single-quoted.
var archiveCommandRE = regexp.MustCompile(`^('[^']*'|\S+) wal-push --config ('[^']*'|\S+) %p$`)

// ParseArchiveCommand returns the agent and configuration paths of an
// archive_command written by ArchiveCommand; ok is false for any other.
func ParseArchiveCommand(cmd string) (agent, config string, ok bool) {
	m := archiveCommandRE.FindStringSubmatch(strings.TrimSpace(cmd))
	if m == nil {
		return "", "", false
	}
	unquote := func(s string) string { return strings.TrimSuffix(strings.TrimPrefix(s, "'"), "'") }
	return unquote(m[1]), unquote(m[2]), true
}

// ShellQuote quotes a word for /bin/sh, which runs archive_command and
// restore_command; a word of only safe characters stays as it is.
func ShellQuote(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_./=-]+$`)
