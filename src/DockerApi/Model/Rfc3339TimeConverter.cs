using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Shoal.DockerApi.Model;

/// <summary>
/// Timestamps as Go's <c>time.Time</c> marshals them: RFC 3339 in UTC with the fraction's trailing zeros dropped
/// (<c>2025-05-30T12:00:00.1234567Z</c>). Reading accepts any RFC 3339 time, including nine fractional digits.
/// </summary>
public sealed class Rfc3339TimeConverter : JsonConverter<DateTimeOffset>
{
    /// <inheritdoc/>
    public override DateTimeOffset Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        var text = reader.GetString() ?? throw new JsonException("a timestamp must be an RFC 3339 string, not null");
        return Parse(text);
    }

    /// <inheritdoc/>
    public override void Write(Utf8JsonWriter writer, DateTimeOffset value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteStringValue(Format(value));
    }

    /// <summary>The RFC 3339 text of <paramref name="value"/> in UTC.</summary>
    public static string Format(DateTimeOffset value)
    {
        var text = value.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff", CultureInfo.InvariantCulture).TrimEnd('0').TrimEnd('.');
        return text + "Z";
    }

    /// <summary>Parses an RFC 3339 time; digits beyond the 100 ns .NET keeps are dropped.</summary>
    public static DateTimeOffset Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var dot = text.IndexOf('.', StringComparison.Ordinal);
        if (dot > 0)
        {
            var end = dot + 1;
            while (end < text.Length && char.IsAsciiDigit(text[end]))
            {
                end++;
            }

            if (end - dot - 1 > 7)
            {
                text = string.Concat(text.AsSpan(0, dot + 8), text.AsSpan(end));
            }
        }

        if (!DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var value))
        {
            throw new JsonException($"'{text}' is not an RFC 3339 timestamp");
        }

        return value;
    }
}
