package bench_test

import (
	"testing"

	"golog/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }
