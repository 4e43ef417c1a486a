package bench_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"golog/internal/bench"
)

func TestTable(t *testing.T) {
	input := `{"case":"a","workload":"produce/unary","clients":1,"size":100,"records":10,"seconds":1,"records_per_second":300,"mb_per_second":0.03,"latency_us":{"samples":10,"p50":1000,"p90":1,"p99":3000,"p99_9":1,"max":1},"verified":"x"}
{"case":"b","workload":"consume/stream","clients":1,"size":100,"records":10,"seconds":1,"records_per_second":5,"mb_per_second":1,"latency_us":{"samples":0,"p50":0,"p90":0,"p99":0,"p99_9":0,"max":0},"verified":"x"}
{"case":"a","workload":"produce/unary","clients":1,"size":100,"records":10,"seconds":1,"records_per_second":100,"mb_per_second":0.01,"latency_us":{"samples":10,"p50":3000,"p90":1,"p99":5000,"p99_9":1,"max":1},"verified":"x"}
{"case":"a","workload":"produce/unary","clients":1,"size":100,"records":10,"seconds":1,"records_per_second":200,"mb_per_second":0.02,"latency_us":{"samples":10,"p50":2000,"p90":1,"p99":4000,"p99_9":1,"max":1},"verified":"x"}
`
	results, err := bench.ReadResults(strings.NewReader(input))
	require.NoError(t, err)
	rows := bench.Table(results)
	require.Len(t, rows, 2)
	assert.Equal(t, "a", rows[0].Case)
	assert.Equal(t, 3, rows[0].Runs)
	assert.Equal(t, [3]float64{200, 100, 300}, rows[0].RecordsPerSecond)
	assert.Equal(t, [3]float64{5, 5, 5}, rows[1].RecordsPerSecond)

	var out strings.Builder
	require.NoError(t, bench.WriteTable(&out, rows))
	assert.Equal(t, `| case | runs | records/s | MB/s | p50 ms | p99 ms |
|---|---|---|---|---|---|
| a | 3 | 200 (100–300) | 0.02 (0.01–0.03) | 2.00 (1.00–3.00) | 4.00 (3.00–5.00) |
| b | 1 | 5 | 1.00 | – | – |
`, out.String())

	_, err = bench.ReadResults(strings.NewReader(`{"records": "many"}`))
	assert.ErrorContains(t, err, "result 1")
}
