package redisx

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Class is a workload class: see the package documentation.
type Class string

// The workload classes.
const (
	ClassCache   Class = "cache"
	ClassSession Class = "session"
	ClassQueue   Class = "queue"
)

// Classes lists the classes, for validators and messages.
var Classes = []string{string(ClassCache), string(ClassSession), string(ClassQueue)}

// ErrUnknownClass is returned by ParseClass for a name that is not a class.
var ErrUnknownClass = errors.New("unknown workload class")

// ErrCacheOverride is returned by Desired for a persistence override on a
// cache (safety rule 2).
var ErrCacheOverride = errors.New("a cache is rebuilt, not restored: it takes no persistence override")

// ErrEvictingQueue is returned by Desired for a queue with an evicting
// maxmemory-policy (safety rule 1).
var ErrEvictingQueue = errors.New("a queue must not evict: maxmemory-policy must be noeviction")

// ErrInvalidSetting is returned by Desired for a malformed override.
var ErrInvalidSetting = errors.New("invalid setting")

// SettingError is Desired refusing one setting; Setting is its Redis name
// (save, appendfsync, maxmemory-policy), so callers can point at the input
// that set it.
type SettingError struct {
	Setting string
	Err     error
}

func (e *SettingError) Error() string { return e.Err.Error() }
func (e *SettingError) Unwrap() error { return e.Err }

func settingErr(name string, err error) error { return &SettingError{Setting: name, Err: err} }

// ParseClass returns the class named s.
func ParseClass(s string) (Class, error) {
	switch c := Class(s); c {
	case ClassCache, ClassSession, ClassQueue:
		return c, nil
	}
	return "", fmt.Errorf("%w %q: want one of %s", ErrUnknownClass, s, strings.Join(Classes, ", "))
}

// Decision is what recovery does for the class: "rebuild" (start empty, the
// application refills it) or "restore" (load the last snapshot).
func (c Class) Decision() string {
	if c == ClassCache {
		return "rebuild"
	}
	return "restore"
}

// Settings are the server settings a class manages, as CONFIG GET spells
// them (Save is the normalized "<seconds> <changes> ..." list, "" for none).
type Settings struct {
	Save              string
	AppendOnly        bool
	AppendFsync       string
	AOFUseRDBPreamble bool
	MaxmemoryPolicy   string
}

// Overrides are the optional declared departures from a class' defaults;
// empty fields take the default.
type Overrides struct {
	Save            *string // nil: the class default; "" is "no RDB schedule"
	AppendFsync     string  // always, everysec or no
	MaxmemoryPolicy string
}

// DefaultSave is Redis' own default RDB schedule: after 1 hour and 1
// change, 5 minutes and 100 changes, 1 minute and 10000 changes.
const DefaultSave = "3600 1 300 100 60 10000"

// EvictionPolicies are the maxmemory-policy values Redis accepts.
var EvictionPolicies = []string{"noeviction", "allkeys-lru", "allkeys-lfu", "allkeys-random",
	"volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl"}

// FsyncPolicies are the appendfsync values Redis accepts.
var FsyncPolicies = []string{"always", "everysec", "no"}

// Desired returns the settings class implies with o applied, or an error
// wrapping ErrCacheOverride, ErrEvictingQueue or ErrInvalidSetting naming
// the offending setting. It is pure, so plans call it too.
func Desired(class Class, o Overrides) (Settings, error) {
	if _, err := ParseClass(string(class)); err != nil {
		return Settings{}, err
	}
	if o.Save != nil {
		if _, err := NormalizeSave(*o.Save); err != nil {
			return Settings{}, settingErr("save", err)
		}
	}
	if o.AppendFsync != "" && !contains(FsyncPolicies, o.AppendFsync) {
		return Settings{}, settingErr("appendfsync", fmt.Errorf("%w: appendfsync %q: want one of %s", ErrInvalidSetting, o.AppendFsync, strings.Join(FsyncPolicies, ", ")))
	}
	if o.MaxmemoryPolicy != "" && !contains(EvictionPolicies, o.MaxmemoryPolicy) {
		return Settings{}, settingErr("maxmemory-policy", fmt.Errorf("%w: maxmemory-policy %q: want one of %s", ErrInvalidSetting, o.MaxmemoryPolicy, strings.Join(EvictionPolicies, ", ")))
	}
	var s Settings
	switch class {
	case ClassCache:
		if o.Save != nil && *o.Save != "" {
			return Settings{}, settingErr("save", fmt.Errorf("%w: save %q", ErrCacheOverride, *o.Save))
		}
		if o.AppendFsync != "" {
			return Settings{}, settingErr("appendfsync", fmt.Errorf("%w: appendfsync %q", ErrCacheOverride, o.AppendFsync))
		}
		// NOTE: appendfsync and the preamble keep Redis' defaults: they do
		// nothing while appendonly is off, and managing them keeps drift
		// detection total.
		s = Settings{Save: "", AppendOnly: false, AppendFsync: "everysec", AOFUseRDBPreamble: true, MaxmemoryPolicy: "allkeys-lru"}
	case ClassSession:
		if strings.HasPrefix(o.MaxmemoryPolicy, "allkeys-") {
			return Settings{}, settingErr("maxmemory-policy", fmt.Errorf("%w: maxmemory-policy %q would evict session keys without a TTL: use noeviction or a volatile-* policy", ErrInvalidSetting, o.MaxmemoryPolicy))
		}
		s = Settings{Save: DefaultSave, AppendOnly: true, AppendFsync: "everysec", AOFUseRDBPreamble: true, MaxmemoryPolicy: "volatile-lru"}
	case ClassQueue:
		if o.MaxmemoryPolicy != "" && o.MaxmemoryPolicy != "noeviction" {
			return Settings{}, settingErr("maxmemory-policy", fmt.Errorf("%w (declared %q)", ErrEvictingQueue, o.MaxmemoryPolicy))
		}
		s = Settings{Save: DefaultSave, AppendOnly: true, AppendFsync: "everysec", AOFUseRDBPreamble: true, MaxmemoryPolicy: "noeviction"}
	}
	if o.Save != nil {
		s.Save, _ = NormalizeSave(*o.Save)
	}
	if o.AppendFsync != "" {
		s.AppendFsync = o.AppendFsync
	}
	if o.MaxmemoryPolicy != "" {
		s.MaxmemoryPolicy = o.MaxmemoryPolicy
	}
	return s, nil
}

// NormalizeSave checks an RDB schedule ("<seconds> <changes>" pairs, or ""
// for none) and returns it as CONFIG GET prints it (single spaces).
func NormalizeSave(save string) (string, error) {
	f := strings.Fields(save)
	if len(f)%2 != 0 {
		return "", fmt.Errorf("%w: save %q: want \"<seconds> <changes>\" pairs, e.g. %q", ErrInvalidSetting, save, DefaultSave)
	}
	for _, n := range f {
		if v, err := strconv.ParseUint(n, 10, 32); err != nil || v == 0 {
			return "", fmt.Errorf("%w: save %q: %q is not a positive integer; want \"<seconds> <changes>\" pairs, e.g. %q", ErrInvalidSetting, save, n, DefaultSave)
		}
	}
	return strings.Join(f, " "), nil
}

// Infer guesses the class a server's settings serve, for import: no
// persistence is a cache, AOF with noeviction a queue, otherwise a session.
func Infer(s Settings) Class {
	switch {
	case !s.AppendOnly && s.Save == "":
		return ClassCache
	case s.AppendOnly && s.MaxmemoryPolicy == "noeviction":
		return ClassQueue
	}
	return ClassSession
}

// Diff lists the settings (by their Redis names) where have differs from want.
func Diff(want, have Settings) []string {
	var d []string
	for _, kv := range want.pairs() {
		if have.get(kv[0]) != kv[1] {
			d = append(d, kv[0])
		}
	}
	return d
}

// pairs are the settings as CONFIG SET arguments.
func (s Settings) pairs() [][2]string {
	return [][2]string{
		{"save", s.Save},
		{"appendonly", yesNo(s.AppendOnly)},
		{"appendfsync", s.AppendFsync},
		{"aof-use-rdb-preamble", yesNo(s.AOFUseRDBPreamble)},
		{"maxmemory-policy", s.MaxmemoryPolicy},
	}
}

func (s Settings) get(name string) string {
	for _, kv := range s.pairs() {
		if kv[0] == name {
			return kv[1]
		}
	}
	return ""
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
