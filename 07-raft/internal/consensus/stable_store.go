package consensus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
	bolt "go.etcd.io/bbolt"
)

// ErrKeyNotFound is returned by StableStore.Get and StableStore.GetUint64 for a key that
// was never set. Its message is exactly "not found": raft compares err.Error() with that
// string (not errors.Is) to tell "nothing stored yet" from a failing disk, so the text
// is part of the contract.
var ErrKeyNotFound = errors.New("not found")

// stableBucket is the one bbolt bucket that holds every key of a StableStore.
var stableBucket = []byte("raft-stable")

// stableOpenTimeout bounds how long NewStableStore waits for bbolt's file lock, so a
// second process on the same data directory fails instead of hanging.
const stableOpenTimeout = time.Second

// StableStore is raft's stable store: a few keys that must survive a crash, such as the
// current term and the candidate this server voted for (Raft paper, Figure 2,
// "persistent state on all servers"). It keeps them in one bbolt file.
//
// Every Set and SetUint64 is a bbolt transaction that is fsync'ed before it returns:
// raft must not vote twice in one term, so a vote it has answered has to be on disk.
//
// A StableStore is safe for concurrent use.
type StableStore struct {
	db *bolt.DB
}

var _ raft.StableStore = (*StableStore)(nil)

// NewStableStore opens (or creates) the bbolt file at path. It fails if another
// process holds the file open for longer than a second.
func NewStableStore(path string) (*StableStore, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: stableOpenTimeout})
	if err != nil {
		return nil, fmt.Errorf("open stable store %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(stableBucket)
		return err
	})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("create stable store bucket: %w", err), db.Close())
	}
	return &StableStore{db: db}, nil
}

// Set stores val under key, durably. The store keeps its own copy of both.
func (s *StableStore) Set(key, val []byte) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(stableBucket).Put(key, val)
	})
	if err != nil {
		return fmt.Errorf("stable store set %q: %w", key, err)
	}
	return nil
}

// Get returns a copy of the value stored under key, or ErrKeyNotFound if there is none.
// A key set to an empty value returns an empty, non-nil slice.
func (s *StableStore) Get(key []byte) ([]byte, error) {
	var val []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(stableBucket).Get(key)
		if v == nil {
			return ErrKeyNotFound
		}
		// v points into bbolt's memory map and is only valid inside the transaction.
		val = append(make([]byte, 0, len(v)), v...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return val, nil
}

// SetUint64 stores val under key as 8 big-endian bytes, durably.
func (s *StableStore) SetUint64(key []byte, val uint64) error {
	return s.Set(key, binary.BigEndian.AppendUint64(nil, val))
}

// GetUint64 returns the number stored under key by SetUint64. For a key that was never
// set it returns 0 and ErrKeyNotFound (raft accepts both 0, nil and 0, "not found").
// A value that is not 8 bytes long is an error.
func (s *StableStore) GetUint64(key []byte) (uint64, error) {
	val, err := s.Get(key)
	if err != nil {
		return 0, err
	}
	if len(val) != 8 {
		return 0, fmt.Errorf("stable store key %q: %d bytes, want 8 for a uint64", key, len(val))
	}
	return binary.BigEndian.Uint64(val), nil
}

// Close closes the bbolt file. It is idempotent.
func (s *StableStore) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close stable store: %w", err)
	}
	return nil
}
