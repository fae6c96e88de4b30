package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/taskmill/taskmill/backend/embedded"
)

// dataPlaces says where a serve keeps its data, as absolute paths, and
// whether the store is new. The default data directory is relative
// (./taskmill-data), so starting serve from another folder quietly opens
// another, empty store: the log says where, and says so when it is new.
type dataPlaces struct {
	dataDir   string // the embedded store's directory; the --data directory otherwise
	storeFile string // the embedded store's file; "" for other backends
	filesDir  string // the files folder of file-based tasks
	newStore  bool   // the embedded store did not exist before this start
}

func locateData(t *backendTarget, dataDir, filesDir string) (dataPlaces, error) {
	var p dataPlaces
	var err error
	dir := dataDir
	if t.kind == "embedded" {
		dir = t.dir
	}
	if p.dataDir, err = filepath.Abs(dir); err != nil {
		return p, fmt.Errorf("data directory %q: %w", dir, err)
	}
	if p.filesDir, err = filepath.Abs(filesDir); err != nil {
		return p, fmt.Errorf("files directory %q: %w", filesDir, err)
	}
	if t.kind == "embedded" {
		p.storeFile = filepath.Join(p.dataDir, embedded.FileName)
		_, err := os.Stat(p.storeFile)
		p.newStore = errors.Is(err, fs.ErrNotExist)
	}
	return p, nil
}

func (p dataPlaces) log(log *slog.Logger) {
	if p.newStore {
		log.Info("created a new store in "+p.dataDir+" (serve --data DIR, or TASKMILL_DATA, opens another)", "store", p.storeFile)
	}
	log.Info("data", "data_dir", p.dataDir, "files_dir", p.filesDir, "store", p.storeFile)
}
