package objectstore

import (
	"sort"
)

// sortVersions orders versions by key, newest first within a key.
func sortVersions(infos []ObjectInfo) {
	sort.SliceStable(infos, func(i, j int) bool {
		if infos[i].Key != infos[j].Key {
			return infos[i].Key < infos[j].Key
		}
		if infos[i].IsLatest != infos[j].IsLatest {
			return infos[i].IsLatest
		}
		return infos[i].LastModified.After(infos[j].LastModified)
	})
}
