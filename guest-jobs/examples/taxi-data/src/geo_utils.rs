//! `GeoUtils`: the bounding box of New York City used by the data generator and the Ride
//! Cleansing exercise.
//!
//! Only what the generator and the four exercise solutions use is ported (the grid-cell and
//! distance helpers are not).

/// Eastern boundary of the NYC area (longitude).
pub const LON_EAST: f64 = -73.7;
/// Western boundary of the NYC area (longitude).
pub const LON_WEST: f64 = -74.05;
/// Northern boundary of the NYC area (latitude).
pub const LAT_NORTH: f64 = 41.0;
/// Southern boundary of the NYC area (latitude).
pub const LAT_SOUTH: f64 = 40.5;

/// `GeoUtils.isInNYC`: whether the location lies within the NYC bounding box (boundaries
/// included). The comparisons are made in `f64`, like Java's `float`-to-`double` promotion.
/// Like the Java, a NaN coordinate passes (it fails both "outside" comparisons), hence the
/// negated form rather than a range check.
#[allow(clippy::nonminimal_bool, clippy::manual_range_contains)]
pub fn is_in_nyc(lon: f32, lat: f32) -> bool {
    let (lon, lat) = (f64::from(lon), f64::from(lat));
    !(lon > LON_EAST || lon < LON_WEST) && !(lat > LAT_NORTH || lat < LAT_SOUTH)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checked against `GeoUtils.isInNYC` on JDK 17.
    #[test]
    fn nyc_bounding_box_like_java() {
        let cases: &[(f32, f32, bool)] = &[
            (-73.9, 40.7, true),
            (-73.9, 41.0, true),
            // -73.7f widens to -73.69999694824219, east of LON_EAST; -74.05f to -74.05000305175781
            (-73.7, 41.0, false),
            (-74.05, 40.5, false),
            (-73.69999, 40.7, false),
            (-74.1, 40.7, false),
            (-73.6, 40.7, false),
            (-73.9, 40.4, false),
            (-73.9, 41.1, false),
            (f32::NAN, f32::NAN, true), // NaN fails every comparison, in Java too
        ];
        for &(lon, lat, inside) in cases {
            assert_eq!(is_in_nyc(lon, lat), inside, "({lon}, {lat})");
        }
    }
}
