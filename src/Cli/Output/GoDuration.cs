using System.Globalization;

namespace Shoal.Cli.Output;

/// <summary>
/// Durations as the docker CLI's flags take them (Go's <c>time.ParseDuration</c>): a sequence of decimal numbers,
/// each with a unit, such as <c>2160h</c>, <c>1m30s</c> or <c>1.5s</c>; units ns, us (µs), ms, s, m, h.
/// </summary>
internal static class GoDuration
{
    private static readonly Dictionary<string, long> Units = new(StringComparer.Ordinal)
    {
        ["ns"] = 1,
        ["us"] = 1_000,
        ["\u00b5s"] = 1_000,
        ["\u03bcs"] = 1_000,
        ["ms"] = 1_000_000,
        ["s"] = 1_000_000_000,
        ["m"] = 60_000_000_000,
        ["h"] = 3_600_000_000_000,
    };

    /// <summary>Parses <paramref name="text"/> into nanoseconds.</summary>
    /// <returns>False with the reason in <paramref name="error"/> when the text is not a duration.</returns>
    public static bool TryParse(string text, out long nanoseconds, out string? error)
    {
        ArgumentNullException.ThrowIfNull(text);
        nanoseconds = 0;
        error = null;
        var rest = text.AsSpan();
        var negative = false;
        if (rest.Length > 0 && rest[0] is '-' or '+')
        {
            negative = rest[0] == '-';
            rest = rest[1..];
        }

        if (rest is "0")
        {
            return true;
        }

        if (rest.IsEmpty)
        {
            error = $"invalid duration \"{text}\"";
            return false;
        }

        var total = 0m;
        while (!rest.IsEmpty)
        {
            var number = 0;
            while (number < rest.Length && (char.IsAsciiDigit(rest[number]) || rest[number] == '.'))
            {
                number++;
            }

            var digits = rest[..number];
            if (digits.Count('.') > 1 || digits.Count('.') == digits.Length
                || !decimal.TryParse(digits, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value))
            {
                error = $"invalid duration \"{text}\"";
                return false;
            }

            rest = rest[number..];
            var unitLength = 0;
            while (unitLength < rest.Length && !char.IsAsciiDigit(rest[unitLength]) && rest[unitLength] != '.')
            {
                unitLength++;
            }

            if (unitLength == 0)
            {
                error = $"missing unit in duration \"{text}\" (use ns, us, ms, s, m or h)";
                return false;
            }

            var unit = rest[..unitLength].ToString();
            if (!Units.TryGetValue(unit, out var scale))
            {
                error = $"unknown unit \"{unit}\" in duration \"{text}\" (use ns, us, ms, s, m or h)";
                return false;
            }

            rest = rest[unitLength..];
            total += value * scale;
            if (total > long.MaxValue)
            {
                error = $"invalid duration \"{text}\": longer than {long.MaxValue}ns";
                return false;
            }
        }

        nanoseconds = (long)decimal.Truncate(negative ? -total : total);
        return true;
    }
}
