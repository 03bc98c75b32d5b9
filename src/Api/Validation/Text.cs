using System.Globalization;
using System.Text;

namespace Shoal.Api.Validation;

/// <summary>Formats user-supplied values for error messages: quoted, escaped and bounded, so they are safe to log.</summary>
internal static class Text
{
    private const int MaxQuotedLength = 80;

    /// <summary>A value in double quotes, control characters escaped, cut after 80 characters with its length noted.</summary>
    public static string Quote(string value)
    {
        var shown = value.Length <= MaxQuotedLength ? value.AsSpan() : value.AsSpan(0, MaxQuotedLength);
        var builder = new StringBuilder(shown.Length + 16);
        builder.Append('"');
        foreach (var c in shown)
        {
            switch (c)
            {
                case '"':
                    builder.Append("\\\"");
                    break;
                case '\\':
                    builder.Append("\\\\");
                    break;
                case '\n':
                    builder.Append("\\n");
                    break;
                case '\r':
                    builder.Append("\\r");
                    break;
                case '\t':
                    builder.Append("\\t");
                    break;
                default:
                    if (char.IsControl(c) || char.IsSurrogate(c) || c is '\u2028' or '\u2029')
                    {
                        builder.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        builder.Append(c);
                    }

                    break;
            }
        }

        builder.Append('"');
        if (value.Length > MaxQuotedLength)
        {
            builder.Append(CultureInfo.InvariantCulture, $"... ({value.Length} characters)");
        }

        return builder.ToString();
    }

    /// <summary>A duration the way Go and the Docker CLI print one: "1h2m3.5s", "250ms", "-1s".</summary>
    public static string FormatDuration(Int128 nanos)
    {
        if (nanos == 0)
        {
            return "0s";
        }

        var builder = new StringBuilder();
        if (nanos < 0)
        {
            builder.Append('-');
            nanos = -nanos;
        }

        if (nanos < 1_000)
        {
            return builder.Append(CultureInfo.InvariantCulture, $"{nanos}ns").ToString();
        }

        if (nanos < 1_000_000)
        {
            return AppendFraction(builder, nanos, 1_000).Append("µs").ToString();
        }

        if (nanos < 1_000_000_000)
        {
            return AppendFraction(builder, nanos, 1_000_000).Append("ms").ToString();
        }

        const long NanosPerHour = 3_600_000_000_000;
        const long NanosPerMinute = 60_000_000_000;
        var hours = nanos / NanosPerHour;
        var minutes = nanos % NanosPerHour / NanosPerMinute;
        var rest = nanos % NanosPerMinute;
        if (hours > 0)
        {
            builder.Append(CultureInfo.InvariantCulture, $"{hours}h{minutes}m");
        }
        else if (minutes > 0)
        {
            builder.Append(CultureInfo.InvariantCulture, $"{minutes}m");
        }

        return AppendFraction(builder, rest, 1_000_000_000).Append('s').ToString();
    }

    /// <summary>A Duration message as written in a message: its value, or its raw fields when it is malformed.</summary>
    public static string FormatDuration(Google.Protobuf.WellKnownTypes.Duration duration) =>
        Durations.IsWellFormed(duration)
            ? FormatDuration(Durations.ToNanos(duration))
            : string.Create(CultureInfo.InvariantCulture, $"(seconds={duration.Seconds}, nanos={duration.Nanos})");

    public static string FormatDuration(TimeSpan value) => FormatDuration((Int128)value.Ticks * 100);

    private static StringBuilder AppendFraction(StringBuilder builder, Int128 value, long unit)
    {
        builder.Append(CultureInfo.InvariantCulture, $"{value / unit}");
        var fraction = value % unit;
        if (fraction == 0)
        {
            return builder;
        }

        var digits = unit.ToString(CultureInfo.InvariantCulture).Length - 1;
        var text = fraction.ToString(CultureInfo.InvariantCulture).PadLeft(digits, '0').TrimEnd('0');
        return builder.Append('.').Append(text);
    }
}
