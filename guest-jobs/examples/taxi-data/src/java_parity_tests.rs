//! Values printed by the Java sources of the Flink training (`DataGenerator`, `TaxiRide`,
//! `TaxiFare`, `TaxiRideGenerator`, `TaxiFareGenerator`, compiled unmodified except for the
//! generators' `Thread.sleep` and the Flink imports) and by `java.util.Random` on OpenJDK 17.

use std::time::Duration;

use crate::java_random::{JavaRandom, java_round, shuffle, strict_log};
use crate::{DataGenerator, RideAndFare, TaxiFare, TaxiFareGenerator, TaxiRide, TaxiRideGenerator};

/// The hash the Java harness used: FNV-1a-style over 64-bit words.
fn mix(h: i64, x: i64) -> i64 {
    (h ^ x).wrapping_mul(0x100_0000_01b3)
}

fn instant(millis: i64) -> String {
    let mut s = String::new();
    crate::java_fmt::write_java_instant(&mut s, millis).unwrap();
    s
}

fn bits(f: f32) -> i64 {
    i64::from(f.to_bits() as i32)
}

fn ride_hash(mut h: i64, r: &TaxiRide) -> i64 {
    for x in [r.ride_id, i64::from(r.is_start), r.event_time_millis()] {
        h = mix(h, x);
    }
    for f in [r.start_lon, r.start_lat, r.end_lon, r.end_lat] {
        h = mix(h, bits(f));
    }
    for x in [i64::from(r.passenger_cnt), r.taxi_id, r.driver_id] {
        h = mix(h, x);
    }
    h
}

fn fare_hash(mut h: i64, f: &TaxiFare) -> i64 {
    for x in [f.ride_id, f.taxi_id, f.driver_id, f.event_time_millis(), i64::from(f.payment_type == "CARD")] {
        h = mix(h, x);
    }
    for v in [f.tip, f.tolls, f.total_fare] {
        h = mix(h, bits(v));
    }
    h
}

#[test]
fn java_random_matches_the_jdk() {
    let mut r = JavaRandom::new(42);
    assert_eq!(r.next_int(), -1170105035);
    assert_eq!(r.next_int_bounded(200), 163);
    assert_eq!(r.next_int_bounded(16), 10);
    assert_eq!(r.next_int_bounded(1_500_000_001), 102948884);
    assert_eq!(r.next_long(), 5694868678511409995);
    assert_eq!(r.next_float().to_bits(), 0x3e8ddd3a);
    assert_eq!(r.next_double().to_bits() as i64, 4604549709834685269);
    assert_eq!(r.next_gaussian().to_bits() as i64, -4617305470574960102);
    assert_eq!(r.next_gaussian().to_bits() as i64, -4631177998454507738);
    assert_eq!(r.next_gaussian().to_bits() as i64, -4616680517925923556);
    let mut r = JavaRandom::new(0);
    assert_eq!(r.next_int(), -1155484576);
    assert_eq!(r.next_int_bounded(200), 148);
    assert_eq!(r.next_int_bounded(16), 3);
    assert_eq!(r.next_int_bounded(1_500_000_001), 1302116447);
    assert_eq!(r.next_long(), -6688467811848818630);
    assert_eq!(r.next_float().to_bits(), 0x3f0ce970);
    assert_eq!(r.next_double().to_bits() as i64, 4593095635380350600);
    assert_eq!(r.next_gaussian().to_bits() as i64, 4605446429350204123);
    assert_eq!(r.next_gaussian().to_bits() as i64, -4618811754311938114);
    assert_eq!(r.next_gaussian().to_bits() as i64, 4586141108197883046);
    let mut r = JavaRandom::new(-1);
    assert_eq!(r.next_int(), 1155099827);
    assert_eq!(r.next_int_bounded(200), 25);
    assert_eq!(r.next_int_bounded(16), 0);
    assert_eq!(r.next_int_bounded(1_500_000_001), 1176895439);
    assert_eq!(r.next_long(), -6233441030884181172);
    assert_eq!(r.next_float().to_bits(), 0x3ed53766);
    assert_eq!(r.next_double().to_bits() as i64, 4600864561857821116);
    assert_eq!(r.next_gaussian().to_bits() as i64, -4623458488008348657);
    assert_eq!(r.next_gaussian().to_bits() as i64, -4628848806900986549);
    assert_eq!(r.next_gaussian().to_bits() as i64, -4621571470094357502);
    let mut r = JavaRandom::new(123456789012345);
    assert_eq!(r.next_int(), -1421006947);
    assert_eq!(r.next_int_bounded(200), 4);
    assert_eq!(r.next_int_bounded(16), 13);
    assert_eq!(r.next_int_bounded(1_500_000_001), 1308132652);
    assert_eq!(r.next_long(), -2184844392376802456);
    assert_eq!(r.next_float().to_bits(), 0x3db14100);
    assert_eq!(r.next_double().to_bits() as i64, 4606532508618813285);
    assert_eq!(r.next_gaussian().to_bits() as i64, -4614206678735258332);
    assert_eq!(r.next_gaussian().to_bits() as i64, 4609911437042426299);
    assert_eq!(r.next_gaussian().to_bits() as i64, -4620652933203223941);
}

#[test]
fn shuffle_matches_collections_shuffle() {
    let mut l = [0, 1, 2, 3, 4];
    shuffle(&mut l, &mut JavaRandom::new(0));
    assert_eq!(l, [4, 2, 1, 3, 0]);
    let mut l = [0, 1, 2, 3, 4];
    shuffle(&mut l, &mut JavaRandom::new(5));
    assert_eq!(l, [3, 1, 4, 0, 2]);
    let mut l = [0, 1, 2, 3, 4];
    shuffle(&mut l, &mut JavaRandom::new(10));
    assert_eq!(l, [4, 2, 0, 1, 3]);
    let mut l = [0, 1, 2, 3, 4];
    shuffle(&mut l, &mut JavaRandom::new(15));
    assert_eq!(l, [2, 0, 4, 3, 1]);
    let mut l = [0, 1, 2, 3, 4];
    shuffle(&mut l, &mut JavaRandom::new(20));
    assert_eq!(l, [4, 1, 0, 2, 3]);
    let mut l = [0, 1, 2, 3, 4];
    shuffle(&mut l, &mut JavaRandom::new(25));
    assert_eq!(l, [0, 4, 2, 3, 1]);
    let mut l = [0, 1, 2, 3, 4];
    shuffle(&mut l, &mut JavaRandom::new(30));
    assert_eq!(l, [3, 4, 2, 0, 1]);
    let mut l = [0, 1, 2, 3, 4];
    shuffle(&mut l, &mut JavaRandom::new(35));
    assert_eq!(l, [4, 3, 1, 0, 2]);
    let mut l = [0, 1, 2, 3, 4];
    shuffle(&mut l, &mut JavaRandom::new(40));
    assert_eq!(l, [0, 1, 3, 4, 2]);
    let mut l = [0, 1, 2, 3, 4];
    shuffle(&mut l, &mut JavaRandom::new(45));
    assert_eq!(l, [2, 1, 0, 3, 4]);
}

/// Three Gaussians from each of `new Random(s)`, `s` in `-1000..200000`.
#[test]
fn gaussians_match_the_jdk() {
    let mut h = 0;
    for s in -1000..200_000 {
        let mut r = JavaRandom::new(s);
        for _ in 0..3 {
            h = mix(h, r.next_gaussian().to_bits() as i64);
        }
    }
    assert_eq!(h, -8831777407349421072);
}

#[test]
fn strict_log_and_round_match_the_jdk() {
    assert_eq!(strict_log(1e-300).to_bits() as i64, -4574084695234936907, "log 1.0E-300");
    assert_eq!(strict_log(0.1).to_bits() as i64, -4611004657371359979, "log 0.1");
    assert_eq!(strict_log(0.5).to_bits() as i64, -4618953502541334033, "log 0.5");
    assert_eq!(strict_log(0.7).to_bits() as i64, -4623275132358410416, "log 0.7");
    assert_eq!(strict_log(0.9999999).to_bits() as i64, -4721223821992617057, "log 0.9999999");
    assert_eq!(strict_log(1.0).to_bits() as i64, 0, "log 1.0");
    assert_eq!(strict_log(1.0000001).to_bits() as i64, 4502148214114968722, "log 1.0000001");
    assert_eq!(strict_log(2.0).to_bits() as i64, 4604418534313441775, "log 2.0");
    assert_eq!(strict_log(3.0).to_bits() as i64, 4607626529066517258, "log 3.0");
    assert_eq!(strict_log(10.0).to_bits() as i64, 4612367379483415830, "log 10.0");
    assert_eq!(strict_log(1e300).to_bits() as i64, 4649287341619838901, "log 1.0E300");
    assert_eq!(strict_log(f64::from_bits(1)).to_bits() as i64, -4573612656913714749, "log 4.9E-324");
    assert_eq!(strict_log(0.3333333333333333).to_bits() as i64, -4615745507788258549, "log 0.3333333333333333");
    assert_eq!(java_round(0.5), 1);
    assert_eq!(java_round(-0.5), 0);
    assert_eq!(java_round(1.5), 2);
    assert_eq!(java_round(-1.5), -1);
    assert_eq!(java_round(2.4999999999999996), 2);
    assert_eq!(java_round(0.49999999999999994), 0);
    assert_eq!(java_round(-2.5), -2);
    assert_eq!(java_round(1e20), 9223372036854775807);
    assert_eq!(java_round(-0.0), 0);
}

/// `new TaxiRide(id, true)` printed, the END event time, and the coordinates' bits.
#[test]
fn rides_match_java() {
    let expected: &[(&str, i64, [u32; 4])] = &[
        (
            "1,START,2020-01-01T12:00:20Z,-73.76764,40.88664,-73.843834,40.78967,3,2013000185,2013000185",
            1577884940000,
            [0xc2938908, 0x42238beb, 0xc293b00b, 0x4223289f],
        ),
        (
            "2,START,2020-01-01T12:00:40Z,-73.85604,40.77413,-73.80203,40.84287,3,2013000108,2013000108",
            1577881900000,
            [0xc293b64b, 0x422318b6, 0xc2939aa4, 0x42235f19],
        ),
        (
            "3,START,2020-01-01T12:01:00Z,-73.86453,40.763325,-73.84797,40.7844,3,2013000134,2013000134",
            1577881620000,
            [0xc293baa4, 0x42230da5, 0xc293b229, 0x4223233a],
        ),
        (
            "4,START,2020-01-01T12:01:20Z,-73.86093,40.767902,-73.781784,40.868633,3,2013000062,2013000062",
            1577881760000,
            [0xc293b8cc, 0x42231255, 0xc2939046, 0x4223797b],
        ),
        (
            "5,START,2020-01-01T12:01:40Z,-73.85884,40.77057,-73.75468,40.903137,3,2013000087,2013000087",
            1577881840000,
            [0xc293b7ba, 0x42231510, 0xc2938265, 0x42239cd0],
        ),
        (
            "6,START,2020-01-01T12:02:00Z,-73.764946,40.890068,-73.87163,40.754288,3,2013000011,2013000011",
            1577885160000,
            [0xc29387a7, 0x42238f6e, 0xc293be46, 0x42230464],
        ),
        (
            "7,START,2020-01-01T12:02:20Z,-73.816895,40.823956,-73.8498,40.782078,3,2013000036,2013000036",
            1577883380000,
            [0xc293a240, 0x42234bbb, 0xc293b319, 0x422320d9],
        ),
        (
            "8,START,2020-01-01T12:02:40Z,-73.769424,40.884365,-73.77441,40.87803,3,2013000164,2013000164",
            1577885020000,
            [0xc29389f2, 0x42238997, 0xc2938c7f, 0x4223831a],
        ),
        (
            "9,START,2020-01-01T12:03:00Z,-73.82177,40.817753,-73.82647,40.811768,3,2013000189,2013000189",
            1577883240000,
            [0xc293a4bf, 0x42234561, 0xc293a727, 0x42233f40],
        ),
        (
            "10,START,2020-01-01T12:03:20Z,-73.814865,40.826534,-73.77973,40.871254,3,2013000113,2013000113",
            1577883500000,
            [0xc293a136, 0x42234e5f, 0xc2938f39, 0x42237c2a],
        ),
        (
            "11,START,2020-01-01T12:03:40Z,-73.763145,40.89236,-73.831,40.805996,3,2013000138,2013000138",
            1577885320000,
            [0xc29386bb, 0x422391c7, 0xc293a979, 0x42233957],
        ),
        (
            "12,START,2020-01-01T12:04:00Z,-73.809715,40.833088,-73.80438,40.839874,3,2013000066,2013000066",
            1577883720000,
            [0xc2939e93, 0x42235515, 0xc2939bd8, 0x42235c08],
        ),
        (
            "13,START,2020-01-01T12:04:20Z,-73.7593,40.89725,-73.75628,40.901096,3,2013000092,2013000092",
            1577885480000,
            [0xc29384c3, 0x422396c9, 0xc2938337, 0x42239ab9],
        ),
        (
            "14,START,2020-01-01T12:04:40Z,-73.86736,40.759724,-73.79888,40.846874,3,2013000015,2013000015",
            1577881720000,
            [0xc293bc17, 0x422309f5, 0xc2939907, 0x42236333],
        ),
        (
            "15,START,2020-01-01T12:05:00Z,-73.85413,40.776554,-73.75423,40.903713,3,2013000041,2013000041",
            1577882220000,
            [0xc293b551, 0x42231b31, 0xc293822a, 0x42239d67],
        ),
        (
            "16,START,2020-01-01T12:05:20Z,-73.75606,40.901382,-73.92237,40.689713,3,2013000151,2013000151",
            1577885660000,
            [0xc293831a, 0x42239b04, 0xc293d841, 0x4222c244],
        ),
        (
            "17,START,2020-01-01T12:05:40Z,-73.801285,40.843815,-73.84559,40.78743,3,2013000176,2013000176",
            1577884120000,
            [0xc2939a42, 0x42236011, 0xc293b0f1, 0x42232654],
        ),
        (
            "18,START,2020-01-01T12:06:00Z,-73.83367,40.8026,-73.72209,40.94461,3,2013000100,2013000100",
            1577883000000,
            [0xc293aad7, 0x422335dd, 0xc29371b6, 0x4223c748],
        ),
        (
            "19,START,2020-01-01T12:06:20Z,-73.78347,40.866493,-73.84141,40.79275,3,2013000125,2013000125",
            1577884760000,
            [0xc2939123, 0x4223774a, 0xc293aecd, 0x42232bc7],
        ),
        (
            "20,START,2020-01-01T12:06:40Z,-73.82921,40.808277,-73.78526,40.864212,3,2013000053,2013000053",
            1577883220000,
            [0xc293a88e, 0x42233bad, 0xc293920e, 0x422374f4],
        ),
    ];
    for (id, (text, end_time, coordinates)) in (1..).zip(expected) {
        let start = TaxiRide::new(id, true);
        let end = TaxiRide::new(id, false);
        assert_eq!(start.to_string(), *text);
        assert_eq!(end.event_time_millis(), *end_time);
        assert_eq!([start.start_lon, start.start_lat, start.end_lon, start.end_lat].map(f32::to_bits), *coordinates);
        assert_eq!(TaxiRide { is_start: true, event_time: start.event_time, ..end.clone() }, start);
        assert_eq!(
            end.to_string(),
            text.replace("START", "END").replacen(&instant(start.event_time), &instant(*end_time), 1)
        );
    }
}

/// `new TaxiFare(id)` printed, and the bits of tip, tolls and total fare.
#[test]
fn fares_match_java() {
    let expected: &[(&str, [u32; 3])] = &[
        ("1,2013000185,2013000185,2020-01-01T12:00:20Z,CASH,33.0,0.0,118.0", [0x42040000, 0x00000000, 0x42ec0000]),
        ("2,2013000108,2013000108,2020-01-01T12:00:40Z,CARD,14.0,0.0,48.0", [0x41600000, 0x00000000, 0x42400000]),
        ("3,2013000134,2013000134,2020-01-01T12:01:00Z,CASH,12.0,0.0,41.0", [0x41400000, 0x00000000, 0x42240000]),
        ("4,2013000062,2013000062,2020-01-01T12:01:20Z,CARD,13.0,0.0,44.0", [0x41500000, 0x00000000, 0x42300000]),
        ("5,2013000087,2013000087,2020-01-01T12:01:40Z,CASH,14.0,0.0,46.0", [0x41600000, 0x00000000, 0x42380000]),
        ("6,2013000011,2013000011,2020-01-01T12:02:00Z,CARD,34.0,0.0,121.0", [0x42080000, 0x00000000, 0x42f20000]),
        ("7,2013000036,2013000036,2020-01-01T12:02:20Z,CASH,23.0,0.0,80.0", [0x41b80000, 0x00000000, 0x42a00000]),
        ("8,2013000164,2013000164,2020-01-01T12:02:40Z,CARD,33.0,0.0,117.0", [0x42040000, 0x00000000, 0x42ea0000]),
        ("9,2013000189,2013000189,2020-01-01T12:03:00Z,CASH,22.0,0.0,76.0", [0x41b00000, 0x00000000, 0x42980000]),
        ("10,2013000113,2013000113,2020-01-01T12:03:20Z,CARD,23.0,3.0,84.0", [0x41b80000, 0x40400000, 0x42a80000]),
        ("11,2013000138,2013000138,2020-01-01T12:03:40Z,CASH,34.0,0.0,122.0", [0x42080000, 0x00000000, 0x42f40000]),
        ("12,2013000066,2013000066,2020-01-01T12:04:00Z,CARD,24.0,0.0,85.0", [0x41c00000, 0x00000000, 0x42aa0000]),
        ("13,2013000092,2013000092,2020-01-01T12:04:20Z,CASH,35.0,0.0,125.0", [0x420c0000, 0x00000000, 0x42fa0000]),
        ("14,2013000015,2013000015,2020-01-01T12:04:40Z,CARD,12.0,0.0,39.0", [0x41400000, 0x00000000, 0x421c0000]),
        ("15,2013000041,2013000041,2020-01-01T12:05:00Z,CASH,15.0,0.0,50.0", [0x41700000, 0x00000000, 0x42480000]),
        ("16,2013000151,2013000151,2020-01-01T12:05:20Z,CARD,36.0,0.0,128.0", [0x42100000, 0x00000000, 0x43000000]),
        ("17,2013000176,2013000176,2020-01-01T12:05:40Z,CASH,26.0,0.0,92.0", [0x41d00000, 0x00000000, 0x42b80000]),
        ("18,2013000100,2013000100,2020-01-01T12:06:00Z,CARD,19.0,0.0,66.0", [0x41980000, 0x00000000, 0x42840000]),
        ("19,2013000125,2013000125,2020-01-01T12:06:20Z,CASH,30.0,0.0,106.0", [0x41f00000, 0x00000000, 0x42d40000]),
        ("20,2013000053,2013000053,2020-01-01T12:06:40Z,CARD,20.0,3.0,73.0", [0x41a00000, 0x40400000, 0x42920000]),
    ];
    for (id, (text, values)) in (1..).zip(expected) {
        let fare = TaxiFare::new(id);
        assert_eq!(fare.to_string(), *text);
        assert_eq!([fare.tip, fare.tolls, fare.total_fare].map(f32::to_bits), *values);
        assert_eq!(fare.event_time_millis(), TaxiRide::new(id, true).event_time_millis());
    }
}

/// The first 60 events of the Java `TaxiRideGenerator`: ride id, START?, event time.
#[test]
fn ride_generator_starts_like_java() {
    let expected: &[(i64, bool, i64)] = &[
        (5, true, 1577880100000),
        (3, true, 1577880060000),
        (2, true, 1577880040000),
        (4, true, 1577880080000),
        (1, true, 1577880020000),
        (9, true, 1577880180000),
        (7, true, 1577880140000),
        (10, true, 1577880200000),
        (6, true, 1577880120000),
        (8, true, 1577880160000),
        (15, true, 1577880300000),
        (13, true, 1577880260000),
        (11, true, 1577880220000),
        (12, true, 1577880240000),
        (14, true, 1577880280000),
        (18, true, 1577880360000),
        (16, true, 1577880320000),
        (20, true, 1577880400000),
        (19, true, 1577880380000),
        (17, true, 1577880340000),
        (25, true, 1577880500000),
        (22, true, 1577880440000),
        (21, true, 1577880420000),
        (23, true, 1577880460000),
        (24, true, 1577880480000),
        (26, true, 1577880520000),
        (30, true, 1577880600000),
        (28, true, 1577880560000),
        (29, true, 1577880580000),
        (27, true, 1577880540000),
        (34, true, 1577880680000),
        (35, true, 1577880700000),
        (33, true, 1577880660000),
        (31, true, 1577880620000),
        (32, true, 1577880640000),
        (40, true, 1577880800000),
        (39, true, 1577880780000),
        (37, true, 1577880740000),
        (36, true, 1577880720000),
        (38, true, 1577880760000),
        (41, true, 1577880820000),
        (42, true, 1577880840000),
        (44, true, 1577880880000),
        (45, true, 1577880900000),
        (43, true, 1577880860000),
        (48, true, 1577880960000),
        (47, true, 1577880940000),
        (46, true, 1577880920000),
        (49, true, 1577880980000),
        (50, true, 1577881000000),
        (51, true, 1577881020000),
        (52, true, 1577881040000),
        (54, true, 1577881080000),
        (55, true, 1577881100000),
        (53, true, 1577881060000),
        (60, true, 1577881200000),
        (58, true, 1577881160000),
        (57, true, 1577881140000),
        (59, true, 1577881180000),
        (56, true, 1577881120000),
    ];
    let actual: Vec<(i64, bool, i64)> =
        TaxiRideGenerator::new().take(expected.len()).map(|r| (r.ride_id, r.is_start, r.event_time)).collect();
    assert_eq!(actual, expected);
}

/// The first 200 events of the Java `TaxiRideGenerator`: the ride id, negated for END events.
#[test]
fn ride_generator_orders_like_java() {
    let expected: &[i64] = &[
        5, 3, 2, 4, 1, 9, 7, 10, 6, 8, 15, 13, 11, 12, 14, 18, 16, 20, 19, 17, 25, 22, 21, 23, 24, 26, 30, 28, 29, 27,
        34, 35, 33, 31, 32, 40, 39, 37, 36, 38, 41, 42, 44, 45, 43, 48, 47, 46, 49, 50, 51, 52, 54, 55, 53, 60, 58, 57,
        59, 56, 63, 65, 64, 62, 61, 70, 68, 69, 67, 66, 75, 71, 74, 73, 72, -40, 77, 78, 76, 79, 80, -3, -79, 85, 81,
        84, 83, 82, -14, -4, -38, 87, 88, 89, 86, 90, -5, -2, 91, 93, 94, 92, 95, 96, 97, 99, 100, 98, 105, 104, 102,
        103, 101, -25, 110, 107, 109, 106, 108, -15, -48, 113, 115, 111, 112, 114, 118, 117, 120, 116, 119, 125, 121,
        122, 123, 124, -24, -22, 130, 126, 128, 129, 127, 133, 131, 132, 135, 134, 140, 139, 138, 136, 137, -69, 141,
        145, 144, 143, 142, -18, 149, 146, 148, 150, 147, -67, -84, -45, -64, -49, 154, 155, 151, 153, 152, -33, -43,
        156, 158, 157, 159, 160, -20, -9, -39, 165, 162, 164, 161, 163, -7, -59, 166, 168, 169, 167, 170, -74, -10,
        -94,
    ];
    for (ride, &signed_id) in TaxiRideGenerator::new().zip(expected) {
        assert_eq!((ride.ride_id, ride.is_start), (signed_id.abs(), signed_id > 0));
        assert_eq!(ride, TaxiRide::new(ride.ride_id, ride.is_start));
    }
}

/// Hashes over the first 200000 events of each Java generator, and over the rides and fares of
/// ids -1000..200000.
#[test]
fn generators_match_java_in_bulk() {
    let n = 200_000;
    assert_eq!(TaxiRideGenerator::new().take(n).fold(0, |h, r| ride_hash(h, &r)), 7305076784796787445);
    assert_eq!(TaxiFareGenerator::new().take(n).fold(0, |h, f| fare_hash(h, &f)), 5504476737500480244);
    let mut h = 0;
    for id in -1000..n as i64 {
        h = ride_hash(h, &TaxiRide::new(id, true));
        h = ride_hash(h, &TaxiRide::new(id, false));
        h = fare_hash(h, &TaxiFare::new(id));
    }
    assert_eq!(h, -8890532362627427886);
}

#[test]
fn bounded_fare_generator_matches_run_for() {
    let fares: Vec<TaxiFare> = TaxiFareGenerator::run_for(Duration::from_secs(600)).collect();
    assert_eq!((fares.len(), fares.last().map(|f| f.ride_id)), (29, Some(29)));
    assert_eq!(TaxiFareGenerator::run_for(Duration::from_millis(20_001)).count(), 1);
    assert_eq!(TaxiFareGenerator::run_for(Duration::from_nanos(20_000_000_001)).count(), 1);
    assert_eq!(TaxiFareGenerator::run_for(Duration::from_secs(20)).count(), 0);
    assert_eq!(DataGenerator::new(29).start_time(), crate::BEGINNING_MILLIS + 580_000);
}

/// `RideAndFare.toString()` wraps the two records' own strings.
#[test]
fn ride_and_fare_prints_like_java() {
    let joined = RideAndFare::new(TaxiRide::new(2, true), TaxiFare::new(2));
    assert_eq!(
        joined.to_string(),
        "<2,START,2020-01-01T12:00:40Z,-73.85604,40.77413,-73.80203,40.84287,3,2013000108,2013000108 / \
         2,2013000108,2013000108,2020-01-01T12:00:40Z,CARD,14.0,0.0,48.0>"
    );
}

/// `TaxiRide.compareTo`: by event time, then START before END.
#[test]
fn rides_compare_like_java() {
    let (start, end) = (TaxiRide::new(7, true), TaxiRide::new(7, false));
    assert!(start.compare_to(&end).is_lt());
    let same_time_end = TaxiRide { is_start: false, ..start.clone() };
    assert!(start.compare_to(&same_time_end).is_lt());
    assert!(same_time_end.compare_to(&start).is_gt());
    assert!(start.compare_to(&start.clone()).is_eq());
}
