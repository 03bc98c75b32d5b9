using System.Globalization;
using System.Text.RegularExpressions;

namespace Shoal.Cli.Commands;

/// <summary>A port to publish, as <c>--publish</c> names it.</summary>
/// <param name="Protocol"><c>tcp</c>, <c>udp</c> or <c>sctp</c>.</param>
/// <param name="Target">The port the task listens on.</param>
/// <param name="Published">The port published on the swarm; 0 lets the swarm pick one.</param>
/// <param name="Mode"><c>ingress</c> (every node, the routing mesh) or <c>host</c> (the task's node only).</param>
internal sealed record PublishSpec(string Protocol, uint Target, uint Published, string Mode);

/// <summary>
/// The values of <c>service create/update</c> flags, read as the docker CLI reads them (<c>opts.MemBytes</c>,
/// <c>opts.NanoCPUs</c>, <c>opts.PortOpt</c>, <c>opts.ValidateEnv</c>); each returns false with the reason when the
/// text is not such a value.
/// </summary>
internal static partial class ServiceFlagValues
{
    private static readonly string[] Protocols = ["tcp", "udp", "sctp"];
    private static readonly string[] PublishModes = ["ingress", "host"];

    /// <summary>
    /// go-units' <c>RAMInBytes</c>: a number with an optional binary unit (<c>64M</c>, <c>1.5g</c>, <c>512MiB</c>,
    /// <c>1024</c>); k, m, g, t, p are powers of 1024.
    /// </summary>
    public static bool TryParseMemoryBytes(string text, out long bytes, out string? error)
    {
        ArgumentNullException.ThrowIfNull(text);
        bytes = 0;
        var match = MemoryPattern().Match(text);
        if (!match.Success || !decimal.TryParse(match.Groups[1].Value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number))
        {
            error = $"invalid size: '{text}' (a number of bytes with an optional unit: 512k, 64M, 1.5G)";
            return false;
        }

        var unit = match.Groups[2].Value.ToLowerInvariant();
        var scale = unit switch
        {
            "k" => 1L << 10,
            "m" => 1L << 20,
            "g" => 1L << 30,
            "t" => 1L << 40,
            "p" => 1L << 50,
            _ => 1L,
        };
        var value = number * scale;
        if (value > long.MaxValue)
        {
            error = $"invalid size: '{text}' is too large";
            return false;
        }

        bytes = (long)decimal.Truncate(value);
        error = null;
        return true;
    }

    /// <summary>docker's <c>NanoCPUs</c>: a decimal number of CPUs (<c>0.5</c>, <c>2</c>) as billionths of a CPU.</summary>
    public static bool TryParseNanoCpus(string text, out long nanoCpus, out string? error)
    {
        ArgumentNullException.ThrowIfNull(text);
        nanoCpus = 0;
        if (!decimal.TryParse(text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var cpus) || cpus < 0)
        {
            error = $"failed to parse {text} as a rational number of CPUs (such as 0.5 or 2)";
            return false;
        }

        var nanos = cpus * 1_000_000_000m;
        if (nanos != decimal.Truncate(nanos) || nanos > long.MaxValue)
        {
            error = $"value is too precise or too large: {text} (CPUs are counted in billionths)";
            return false;
        }

        nanoCpus = (long)nanos;
        error = null;
        return true;
    }

    /// <summary>
    /// docker's <c>PortOpt</c>: the short syntax <c>[published:]target[/protocol]</c>, where both ports may be equal
    /// ranges (<c>8080-8081:80-81</c>), or the long one <c>published=8080,target=80,protocol=udp,mode=host</c>.
    /// </summary>
    public static bool TryParsePublish(string text, out IReadOnlyList<PublishSpec> ports, out string? error)
    {
        ArgumentNullException.ThrowIfNull(text);
        ports = [];
        return text.Contains('=', StringComparison.Ordinal)
            ? TryParseLongPublish(text, out ports, out error)
            : TryParseShortPublish(text, out ports, out error);
    }

    /// <summary>
    /// docker's <c>ValidateEnv</c>: <c>KEY=value</c> as it is; a bare <c>KEY</c> takes its value from the environment
    /// of the CLI when set there (and stays bare, unset in the task, when not).
    /// </summary>
    public static bool TryParseEnv(string text, Func<string, string?> variable, out string env, out string? error)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(variable);
        env = text;
        var equals = text.IndexOf('=', StringComparison.Ordinal);
        if (equals == 0)
        {
            error = $"invalid environment variable: {text} (a name comes before =)";
            return false;
        }

        if (equals < 0 && variable(text) is { } value)
        {
            env = text + "=" + value;
        }

        error = null;
        return true;
    }

    /// <summary>docker's <c>--placement-pref</c>: <c>spread=&lt;label&gt;</c> (the only strategy swarm has).</summary>
    public static bool TryParsePlacementPreference(string text, out string spreadDescriptor, out string? error)
    {
        ArgumentNullException.ThrowIfNull(text);
        spreadDescriptor = string.Empty;
        var equals = text.IndexOf('=', StringComparison.Ordinal);
        if (equals < 0)
        {
            error = $"invalid placement preference \"{text}\": write spread=<label>, such as spread=node.labels.zone";
            return false;
        }

        if (!text[..equals].Equals("spread", StringComparison.OrdinalIgnoreCase))
        {
            error = $"unsupported placement preference {text[..equals]} (only spread is supported)";
            return false;
        }

        spreadDescriptor = text[(equals + 1)..];
        error = null;
        return true;
    }

    /// <summary>A <c>--label</c>-style <c>key=value</c> into the map; a bare <c>key</c> sets an empty value.</summary>
    public static void AddKeyValue(Dictionary<string, string> map, string text)
    {
        ArgumentNullException.ThrowIfNull(map);
        ArgumentNullException.ThrowIfNull(text);
        var equals = text.IndexOf('=', StringComparison.Ordinal);
        map[equals < 0 ? text : text[..equals]] = equals < 0 ? string.Empty : text[(equals + 1)..];
    }

    private static bool TryParseShortPublish(string text, out IReadOnlyList<PublishSpec> ports, out string? error)
    {
        ports = [];
        var protocol = "tcp";
        var body = text;
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        if (slash >= 0)
        {
            protocol = text[(slash + 1)..].ToLowerInvariant();
            body = text[..slash];
            if (!Protocols.Contains(protocol))
            {
                error = $"invalid protocol \"{text[(slash + 1)..]}\" in \"{text}\": use tcp, udp or sctp";
                return false;
            }
        }

        var parts = body.Split(':');
        if (parts.Length > 2)
        {
            error = $"invalid port \"{text}\": a service publishes on every node, so write [published:]target[/protocol] without an IP address";
            return false;
        }

        if (!TryParseRange(parts[^1], text, out var targetStart, out var targetEnd, out error))
        {
            return false;
        }

        uint publishedStart = 0, publishedEnd = 0;
        if (parts.Length == 2 && parts[0].Length > 0 && !TryParseRange(parts[0], text, out publishedStart, out publishedEnd, out error))
        {
            return false;
        }

        var count = targetEnd - targetStart + 1;
        if (publishedStart != 0 && publishedEnd - publishedStart + 1 != count)
        {
            error = $"invalid port \"{text}\": the published range and the target range differ in length";
            return false;
        }

        var list = new List<PublishSpec>();
        for (var i = 0U; i < count; i++)
        {
            list.Add(new PublishSpec(protocol, targetStart + i, publishedStart == 0 ? 0 : publishedStart + i, "ingress"));
        }

        ports = list;
        error = null;
        return true;
    }

    private static bool TryParseLongPublish(string text, out IReadOnlyList<PublishSpec> ports, out string? error)
    {
        ports = [];
        string protocol = "tcp", mode = "ingress";
        uint? target = null;
        uint published = 0;
        foreach (var field in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var equals = field.IndexOf('=', StringComparison.Ordinal);
            if (equals < 0)
            {
                error = $"invalid field \"{field}\" in \"{text}\": each field is key=value";
                return false;
            }

            var key = field[..equals].ToLowerInvariant();
            var value = field[(equals + 1)..];
            switch (key)
            {
                case "protocol":
                    protocol = value.ToLowerInvariant();
                    if (!Protocols.Contains(protocol))
                    {
                        error = $"invalid protocol \"{value}\" in \"{text}\": use tcp, udp or sctp";
                        return false;
                    }

                    break;
                case "mode":
                    mode = value.ToLowerInvariant();
                    if (!PublishModes.Contains(mode))
                    {
                        error = $"invalid publish mode \"{value}\" in \"{text}\": use ingress or host";
                        return false;
                    }

                    break;
                case "target":
                    if (!TryParsePort(value, text, out var parsedTarget, out error))
                    {
                        return false;
                    }

                    target = parsedTarget;
                    break;
                case "published":
                    if (!TryParsePort(value, text, out published, out error))
                    {
                        return false;
                    }

                    break;
                default:
                    error = $"invalid field key \"{key}\" in \"{text}\": use published, target, protocol or mode";
                    return false;
            }
        }

        if (target is not { } targetPort)
        {
            error = $"missing mandatory field \"target\" in \"{text}\"";
            return false;
        }

        ports = [new PublishSpec(protocol, targetPort, published, mode)];
        error = null;
        return true;
    }

    private static bool TryParseRange(string text, string whole, out uint start, out uint end, out string? error)
    {
        start = end = 0;
        var dash = text.IndexOf('-', StringComparison.Ordinal);
        if (dash < 0)
        {
            var ok = TryParsePort(text, whole, out start, out error);
            end = start;
            return ok;
        }

        if (!TryParsePort(text[..dash], whole, out start, out error) || !TryParsePort(text[(dash + 1)..], whole, out end, out error))
        {
            return false;
        }

        if (end < start)
        {
            error = $"invalid port range \"{text}\" in \"{whole}\": the end comes before the start";
            return false;
        }

        return true;
    }

    private static bool TryParsePort(string text, string whole, out uint port, out string? error)
    {
        if (uint.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out port) && port is > 0 and <= 65535)
        {
            error = null;
            return true;
        }

        error = $"invalid port \"{text}\" in \"{whole}\": a port is a number from 1 to 65535";
        return false;
    }

    [GeneratedRegex(@"^(\d+(?:\.\d+)?) ?([kKmMgGtTpP])?[iI]?[bB]?$", RegexOptions.CultureInvariant)]
    private static partial Regex MemoryPattern();
}
