using System.Text.Json;

namespace Shoal.DockerApi;

/// <summary>
/// The <c>filters</c> query parameter of list endpoints: a JSON object of key → values, in the current form
/// <c>{"key":{"value":true}}</c> or the legacy <c>{"key":["value"]}</c>. Values of one key are ORed; keys are ANDed.
/// </summary>
public sealed class DockerFilters
{
    private readonly Dictionary<string, List<string>> _values;

    private DockerFilters(Dictionary<string, List<string>> values) => _values = values;

    /// <summary>No filters.</summary>
    public static DockerFilters Empty { get; } = new([]);

    /// <summary>The keys present.</summary>
    public IEnumerable<string> Keys => _values.Keys;

    /// <summary>Parses the parameter; null or empty means no filters.</summary>
    /// <exception cref="DockerApiException">400 when the text is not a filters object.</exception>
    public static DockerFilters Parse(string? json)
    {
        if (string.IsNullOrWhiteSpace(json))
        {
            return Empty;
        }

        try
        {
            using var document = JsonDocument.Parse(json);
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw Invalid(json, "expected a JSON object");
            }

            var values = new Dictionary<string, List<string>>(StringComparer.Ordinal);
            foreach (var property in document.RootElement.EnumerateObject())
            {
                var list = new List<string>();
                switch (property.Value.ValueKind)
                {
                    case JsonValueKind.Object:
                        foreach (var value in property.Value.EnumerateObject())
                        {
                            list.Add(value.Name);
                        }

                        break;
                    case JsonValueKind.Array:
                        foreach (var value in property.Value.EnumerateArray())
                        {
                            list.Add(value.ValueKind == JsonValueKind.String
                                ? value.GetString()!
                                : throw Invalid(json, $"the values of '{property.Name}' must be strings"));
                        }

                        break;
                    default:
                        throw Invalid(json, $"the values of '{property.Name}' must be an object or an array");
                }

                values[property.Name] = list;
            }

            return new DockerFilters(values);
        }
        catch (JsonException e)
        {
            throw Invalid(json, e.Message);
        }
    }

    /// <summary>Refuses keys outside <paramref name="accepted"/> with 400 <c>invalid filter 'key'</c>.</summary>
    public DockerFilters Validate(params ReadOnlySpan<string> accepted)
    {
        foreach (var key in _values.Keys)
        {
            if (!accepted.Contains(key))
            {
                throw DockerApiException.BadRequest($"invalid filter '{key}'");
            }
        }

        return this;
    }

    /// <summary>The values of <paramref name="key"/>; empty when absent.</summary>
    public IReadOnlyList<string> Get(string key) => _values.TryGetValue(key, out var values) ? values : [];

    /// <summary>Whether <paramref name="key"/> is present.</summary>
    public bool Contains(string key) => _values.ContainsKey(key);

    private static DockerApiException Invalid(string json, string reason) =>
        DockerApiException.BadRequest($"invalid filters parameter {json}: {reason}");
}
