using Google.Protobuf.Collections;

namespace Shoal.Manager.ControlApi;

/// <summary>The matching rules the list filters of services and tasks share (SwarmKit's <c>controlapi/common.go</c>).</summary>
internal static class FilterMatch
{
    /// <summary>True when <paramref name="prefixes"/> is empty or <paramref name="value"/> starts with one of them (ordinal).</summary>
    public static bool AnyPrefix(RepeatedField<string> prefixes, string? value)
    {
        if (prefixes.Count == 0)
        {
            return true;
        }

        if (string.IsNullOrEmpty(value))
        {
            return false;
        }

        foreach (var prefix in prefixes)
        {
            if (value.StartsWith(prefix, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// True when <paramref name="labels"/> carries every entry of <paramref name="wanted"/>: "key" asks for the label
    /// with any value, "key=value" for that exact value. Several entries are ANDed, as Docker's <c>label</c> filter is.
    /// </summary>
    public static bool AllLabels(RepeatedField<string> wanted, MapField<string, string>? labels)
    {
        if (wanted.Count == 0)
        {
            return true;
        }

        if (labels is null || labels.Count == 0)
        {
            return false;
        }

        foreach (var entry in wanted)
        {
            var equals = entry.IndexOf('=', StringComparison.Ordinal);
            var found = equals < 0
                ? labels.ContainsKey(entry)
                : labels.TryGetValue(entry[..equals], out var value) && value == entry[(equals + 1)..];
            if (!found)
            {
                return false;
            }
        }

        return true;
    }
}
