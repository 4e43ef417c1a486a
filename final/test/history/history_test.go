package history_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"golog/internal/testenv"
	"golog/test/history"
)

func TestRecorderFromManyGoroutines(t *testing.T) {
	rec := history.NewRecorder()
	var wg sync.WaitGroup
	for client := range 8 {
		wg.Go(func() {
			for i := range 100 {
				p := rec.Append(client, "grpc", "n1", fmt.Sprintf("%d-%d", client, i))
				p.Appended(uint64(client*100 + i))
				r := rec.Read(client, "http", "n2", uint64(i), history.Local)
				r.Found("x")
			}
		})
	}
	wg.Wait()
	rec.Note("done")

	h := rec.History()
	require.Len(t, h.Ops, 1600)
	ids := make(map[int]bool)
	for i, op := range h.Ops {
		require.False(t, ids[op.ID], "ID %d given twice", op.ID)
		ids[op.ID] = true
		require.LessOrEqual(t, op.Call, op.Return, "op %s", op)
		if i > 0 {
			require.LessOrEqual(t, h.Ops[i-1].Call, op.Call, "not in invocation order")
		}
	}
	require.Len(t, h.Notes, 1)
}

func TestPendingOutcomes(t *testing.T) {
	rec := history.NewRecorder()
	boom := errors.New("boom")
	rec.Append(0, "grpc", "n1", "a").Appended(7)
	rec.Append(0, "grpc", "n1", "b").Failed(boom)
	rec.Append(0, "grpc", "n1", "c").Maybe(boom)
	rec.Read(0, "grpc", "n1", 7, history.Linearizable).Found("a")
	rec.Read(0, "grpc", "n1", 8, history.Linearizable).NotFound(boom)
	rec.Read(0, "grpc", "n1", 9, history.Local).ReadFailed(boom)

	var got []string
	for _, op := range rec.History().Ops {
		got = append(got, fmt.Sprintf("%s %s %d %q %s", op.Kind, op.Outcome, op.Offset, op.Value, op.Err))
	}
	require.Equal(t, []string{
		`append ok 7 "a" `,
		`append failed 0 "b" boom`,
		`append unknown 0 "c" boom`,
		`read ok 7 "a" `,
		`read not-found 8 "" boom`,
		`read error 9 "" boom`,
	}, got)
}

func TestHistorySaveLoad(t *testing.T) {
	h, _ := goodHistory()
	h.Notes = []history.Note{{Time: 5, Text: "partition n1"}}
	path := filepath.Join(testenv.TempDir(t), "history.json")
	require.NoError(t, h.Save(path))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	got, err := history.Load(bytes.NewReader(b))
	require.NoError(t, err)
	require.Equal(t, h, got)

	_, err = history.Load(bytes.NewReader([]byte("{")))
	require.ErrorContains(t, err, "decode history")
}
