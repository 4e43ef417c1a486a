package discovery_test

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/stretchr/testify/require"

	"golog/internal/discovery"
)

// withKey returns config with its EncryptKey field set to key.
func withKey(t *testing.T, config discovery.Config, key []byte) discovery.Config {
	t.Helper()
	f := reflect.ValueOf(&config).Elem().FieldByName("EncryptKey")
	require.True(t, f.IsValid(), "discovery.Config has no field EncryptKey yet")
	f.Set(reflect.ValueOf(key))
	return config
}

func TestExercise2_EncryptKey(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	a := start(t, &recorder{}, withKey(t, testConfig(t, "a"), key))
	start(t, &recorder{}, withKey(t, testConfig(t, "b", a.BindAddr()), key)) // same key: joins

	_, err := discovery.New(&recorder{}, withKey(t, testConfig(t, "c", a.BindAddr()), bytes.Repeat([]byte{8}, 32)))
	require.Error(t, err, "a node with another key must not join")
	_, err = discovery.New(&recorder{}, testConfig(t, "d", a.BindAddr()))
	require.Error(t, err, "a node without the key must not join")
	_, err = discovery.New(&recorder{}, withKey(t, testConfig(t, "e"), []byte("short")))
	require.Error(t, err, "a key of 5 bytes is no AES key")
}
