using Google.Protobuf.WellKnownTypes;

namespace Shoal.Api.Validation;

/// <summary>
/// Checks on google.protobuf.Duration values as they arrive from the wire, where nothing guarantees that they are
/// normalized: seconds within ±10,000 years, nanos within ±999,999,999 and of the same sign as seconds.
/// </summary>
internal static class Durations
{
    private const long MaxSeconds = 315_576_000_000;
    private const int MaxNanos = 999_999_999;

    public static bool IsWellFormed(Duration duration) =>
        duration.Seconds is >= -MaxSeconds and <= MaxSeconds
        && duration.Nanos is >= -MaxNanos and <= MaxNanos
        && (duration.Seconds == 0 || duration.Nanos == 0 || duration.Seconds > 0 == duration.Nanos > 0);

    /// <summary>The total in nanoseconds; Int128 because ±10,000 years of nanoseconds overflow a long.</summary>
    public static Int128 ToNanos(Duration duration) => ((Int128)duration.Seconds * 1_000_000_000) + duration.Nanos;

    public static Int128 ToNanos(TimeSpan value) => (Int128)value.Ticks * 100;
}
