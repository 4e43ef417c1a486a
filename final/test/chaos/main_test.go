package chaos_test

import (
	"testing"

	"golog/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }
