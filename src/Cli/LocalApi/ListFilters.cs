using System.Text;
using System.Text.Json;

namespace Shoal.Cli.LocalApi;

/// <summary>
/// The <c>filters</c> query parameter of list requests, encoded as the docker CLI encodes it:
/// <c>{"key":{"value":true,…},…}</c> with keys and values in ordinal order (Go marshals maps sorted).
/// </summary>
internal sealed class ListFilters
{
    private readonly SortedDictionary<string, SortedSet<string>> _values = new(StringComparer.Ordinal);

    /// <summary>Whether no filter was added (the parameter is then left out).</summary>
    public bool IsEmpty => _values.Count == 0;

    /// <summary>
    /// Parses <c>-f/--filter</c> arguments the way docker's FilterOpt does: <c>name=value</c>, the name lower-cased,
    /// both trimmed.
    /// </summary>
    /// <returns>The filters, or null with <paramref name="error"/> when one argument has no <c>=</c>.</returns>
    public static ListFilters? Parse(IEnumerable<string> arguments, out string? error)
    {
        var filters = new ListFilters();
        foreach (var argument in arguments)
        {
            if (argument.Length == 0)
            {
                continue;
            }

            var equals = argument.IndexOf('=', StringComparison.Ordinal);
            if (equals < 0)
            {
                error = $"bad format of filter \"{argument}\" (expected name=value)";
                return null;
            }

            filters.Add(argument[..equals].Trim().ToLowerInvariant(), argument[(equals + 1)..].Trim());
        }

        error = null;
        return filters;
    }

    /// <summary>Adds <paramref name="value"/> to the values of <paramref name="key"/> (values of one key are ORed).</summary>
    public void Add(string key, string value)
    {
        if (!_values.TryGetValue(key, out var values))
        {
            values = new SortedSet<string>(StringComparer.Ordinal);
            _values[key] = values;
        }

        values.Add(value);
    }

    /// <summary>The JSON text of the parameter.</summary>
    public string ToJson()
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            foreach (var (key, values) in _values)
            {
                writer.WriteStartObject(key);
                foreach (var value in values)
                {
                    writer.WriteBoolean(value, true);
                }

                writer.WriteEndObject();
            }

            writer.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }
}
