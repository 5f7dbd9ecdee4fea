// Keyed-state benchmark job for Apache Flink 2.x, the Flink side of bench/flink/run.
//
// gen (DataGeneratorSource) -> keyBy(key) -> update (KeyedProcessFunction, ValueState<byte[]>)
// -> DiscardingSink. Parallelism 1, max parallelism 128.
//
// Record i has the key "k" + ((i mod N) * A mod N) with A = 0x9E3779B97F4A7C15 mod N, moved up to
// the next value coprime with N: a permutation of 0..N-1 in every block of N records, so the
// first N records write every one of the N keys exactly once, in scattered order. Keys and value
// layout are those of Weir's state job (guest-jobs/testing/state-job).
//
// Arguments: --keys N --value-size B [--rate R records/s, 0 = unlimited]
//            [--checkpoint-interval-ms MS, 0 = no checkpoints] [--padding zero|random]
// The state backend (RocksDB, incremental) and the checkpoint directory come from the cluster's
// configuration.

import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.connector.source.util.ratelimit.RateLimiterStrategy;
import org.apache.flink.connector.datagen.source.DataGeneratorSource;
import org.apache.flink.connector.datagen.source.GeneratorFunction;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;
import org.apache.flink.util.Collector;

public class StateBench {

    public static void main(String[] args) throws Exception {
        long keys = 1_000_000L;
        int valueSize = 100;
        double rate = 0;
        long intervalMs = 1000;
        boolean randomPadding = false;
        for (int i = 0; i + 1 < args.length; i += 2) {
            switch (args[i]) {
                case "--keys": keys = Long.parseLong(args[i + 1]); break;
                case "--value-size": valueSize = Integer.parseInt(args[i + 1]); break;
                case "--rate": rate = Double.parseDouble(args[i + 1]); break;
                case "--checkpoint-interval-ms": intervalMs = Long.parseLong(args[i + 1]); break;
                case "--padding": randomPadding = args[i + 1].equals("random"); break;
                default: throw new IllegalArgumentException("unknown argument " + args[i]);
            }
        }
        if (keys < 1) throw new IllegalArgumentException("--keys must be at least 1");
        if (valueSize < 8) throw new IllegalArgumentException("--value-size must be at least 8");

        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        env.setParallelism(1);
        env.setMaxParallelism(128);
        if (intervalMs > 0) {
            env.enableCheckpointing(intervalMs);
        }

        DataGeneratorSource<String> source =
                new DataGeneratorSource<>(
                        new KeyGen(keys),
                        Long.MAX_VALUE,
                        rate > 0 ? RateLimiterStrategy.perSecond(rate) : RateLimiterStrategy.noOp(),
                        Types.STRING);

        env.fromSource(source, WatermarkStrategy.noWatermarks(), "gen")
                .uid("gen")
                .keyBy(k -> k, Types.STRING)
                .process(new Update(valueSize, randomPadding))
                .returns(Types.LONG)
                .name("update")
                .uid("update")
                .sinkTo(new DiscardingSink<>())
                .name("discard")
                .uid("discard");

        env.execute("StateBench keys=" + keys + " value-size=" + valueSize
                + (intervalMs > 0 ? " checkpoint-interval=" + intervalMs + "ms" : " no-checkpoints"));
    }

    /** Record number -> key: a permutation of the N keys in every block of N records. */
    public static final class KeyGen implements GeneratorFunction<Long, String> {
        private final long n;
        private final long a;

        KeyGen(long n) {
            this.n = n;
            long m = Long.remainderUnsigned(0x9E3779B97F4A7C15L, n);
            if (m == 0) m = 1;
            while (gcd(m, n) != 1) m++;
            this.a = m;
        }

        private static long gcd(long x, long y) {
            while (y != 0) {
                long t = x % y;
                x = y;
                y = t;
            }
            return x;
        }

        @Override
        public String map(Long i) {
            long r = i % n;
            // r, a < n: r * a fits in a long while n <= 3037000499.
            long k = n <= 3_037_000_499L ? r * a % n : mulMod(r, a, n);
            return "k" + k;
        }

        private static long mulMod(long x, long y, long m) {
            return java.math.BigInteger.valueOf(x)
                    .multiply(java.math.BigInteger.valueOf(y))
                    .mod(java.math.BigInteger.valueOf(m))
                    .longValue();
        }
    }

    /**
     * Read-modify-write of one value of valueSize bytes per record: the first 8 bytes count the
     * key's records (little endian), the rest is padding: zeros (as Weir's state job), or, with
     * randomPadding, bytes derived from the key and filled once, which RocksDB cannot compress.
     */
    public static final class Update extends KeyedProcessFunction<String, String, Long> {
        private final int valueSize;
        private final boolean randomPadding;
        private transient ValueState<byte[]> state;

        Update(int valueSize, boolean randomPadding) {
            this.valueSize = valueSize;
            this.randomPadding = randomPadding;
        }

        @Override
        public void open(OpenContext ctx) {
            ValueStateDescriptor<byte[]> d =
                    new ValueStateDescriptor<>("value", PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO);
            state = getRuntimeContext().getState(d);
        }

        @Override
        public void processElement(String key, Context ctx, Collector<Long> out) throws Exception {
            byte[] v = state.value();
            if (v == null) {
                v = new byte[valueSize];
                if (randomPadding) {
                    long x = key.hashCode() * 0x9E3779B97F4A7C15L + 1;
                    for (int j = 8; j < valueSize; j++) {
                        x ^= x << 13;
                        x ^= x >>> 7;
                        x ^= x << 17;
                        v[j] = (byte) x;
                    }
                }
            }
            long c = 0;
            for (int j = 7; j >= 0; j--) c = (c << 8) | (v[j] & 0xff);
            c++;
            long w = c;
            for (int j = 0; j < 8; j++) {
                v[j] = (byte) w;
                w >>>= 8;
            }
            state.update(v);
            out.collect(c);
        }
    }
}
