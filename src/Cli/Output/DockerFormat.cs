using System.Globalization;

namespace Shoal.Cli.Output;

/// <summary>
/// Values rendered the way the docker CLI renders them, so that Shoal's output reads the same: capitalized enum
/// words, sizes in binary units, Go's <c>time.Time</c> text, and the natural order of host names.
/// </summary>
internal static class DockerFormat
{
    private static readonly string[] BinaryUnits = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];

    /// <summary>Docker's <c>PrettyPrint</c> of a string: its first letter upper-cased (<c>ready</c> → <c>Ready</c>).</summary>
    public static string Capitalize(string? text) =>
        string.IsNullOrEmpty(text) ? string.Empty : string.Concat(char.ToUpperInvariant(text[0]).ToString(), text.AsSpan(1));

    /// <summary>go-units' <c>BytesSize</c>: four significant digits and a binary unit (<c>4GiB</c>, <c>1.953GiB</c>).</summary>
    public static string BytesSize(double size)
    {
        var unit = 0;
        while (size >= 1024 && unit < BinaryUnits.Length - 1)
        {
            size /= 1024;
            unit++;
        }

        return size.ToString("G4", CultureInfo.InvariantCulture) + BinaryUnits[unit];
    }

    /// <summary>
    /// Go's <c>time.Time.String()</c> of a UTC time (<c>2025-05-30 12:00:00.1234567 +0000 UTC</c>, the fraction without
    /// its trailing zeros); an absent time is Go's zero time.
    /// </summary>
    public static string GoTime(DateTimeOffset? time)
    {
        var utc = (time ?? DateTimeOffset.MinValue).UtcDateTime;
        var text = utc.ToString("yyyy-MM-dd HH:mm:ss.fffffff", CultureInfo.InvariantCulture).TrimEnd('0').TrimEnd('.');
        return text + " +0000 UTC";
    }

    /// <summary>
    /// The order docker sorts host names in (<c>sortorder.NaturalLess</c>): runs of digits compare as numbers, so
    /// <c>worker-2</c> comes before <c>worker-10</c>; digits come before other characters.
    /// </summary>
    public static IComparer<string> NaturalOrder { get; } = Comparer<string>.Create(CompareNaturally);

    private static int CompareNaturally(string? left, string? right)
    {
        left ??= string.Empty;
        right ??= string.Empty;
        int i = 0, j = 0;
        while (i < left.Length && j < right.Length)
        {
            var leftDigit = char.IsAsciiDigit(left[i]);
            var rightDigit = char.IsAsciiDigit(right[j]);
            if (leftDigit != rightDigit)
            {
                return leftDigit ? -1 : 1;
            }

            if (!leftDigit)
            {
                if (left[i] != right[j])
                {
                    return left[i].CompareTo(right[j]);
                }

                i++;
                j++;
                continue;
            }

            while (i < left.Length && left[i] == '0')
            {
                i++;
            }

            while (j < right.Length && right[j] == '0')
            {
                j++;
            }

            int leftStart = i, rightStart = j;
            while (i < left.Length && char.IsAsciiDigit(left[i]))
            {
                i++;
            }

            while (j < right.Length && char.IsAsciiDigit(right[j]))
            {
                j++;
            }

            // A longer number (without leading zeros) is larger; same length compares digit by digit; then fewer zeros first.
            if (i - leftStart != j - rightStart)
            {
                return (i - leftStart).CompareTo(j - rightStart);
            }

            var digits = string.CompareOrdinal(left, leftStart, right, rightStart, i - leftStart);
            if (digits != 0)
            {
                return digits;
            }

            if (leftStart != rightStart)
            {
                return leftStart.CompareTo(rightStart);
            }
        }

        return (left.Length - i).CompareTo(right.Length - j);
    }
}
