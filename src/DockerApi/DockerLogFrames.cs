using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using Google.Protobuf.WellKnownTypes;
using Proto = Shoal.Api;

namespace Shoal.DockerApi;

/// <summary>
/// Log lines as moby writes them (<c>api/server/httputils/write_log_stream.go</c>):
/// <c>[&lt;RFC3339Nano timestamp&gt; ][&lt;details&gt; ]&lt;line&gt;\n</c>, where details are the message's attributes and its
/// swarm context as <c>key=value</c> pairs, URL-query-escaped, sorted by key and joined by commas. Non-TTY output is
/// multiplexed: each line in a frame whose 8-byte header is the stream (1 stdout, 2 stderr, 3 an error from the
/// daemon), three zeros, and the payload length as a big-endian uint32.
/// </summary>
internal static class DockerLogFrames
{
    /// <summary>Media type of multiplexed output (non-TTY tasks, API ≥ 1.42).</summary>
    public const string MultiplexedStream = "application/vnd.docker.multiplexed-stream";

    /// <summary>Media type of raw output (TTY tasks).</summary>
    public const string RawStream = "application/vnd.docker.raw-stream";

    /// <summary>The frame stream for an error the daemon reports inside an answer already started.</summary>
    public const byte SystemErrorStream = 3;

    /// <summary>The detail keys the docker CLI requires on every line ("missing node id in details" otherwise).</summary>
    public const string NodeIdKey = "com.docker.swarm.node.id";

    /// <inheritdoc cref="NodeIdKey"/>
    public const string ServiceIdKey = "com.docker.swarm.service.id";

    /// <inheritdoc cref="NodeIdKey"/>
    public const string TaskIdKey = "com.docker.swarm.task.id";

    /// <summary>The text of one log line, with the prefixes asked for, ending in a newline.</summary>
    public static byte[] Format(Proto.LogMessage message, bool timestamps, bool details)
    {
        ArgumentNullException.ThrowIfNull(message);
        var prefix = new StringBuilder();
        if (timestamps)
        {
            prefix.Append(FormatTimestamp(message.Timestamp)).Append(' ');
        }

        if (details)
        {
            prefix.Append(FormatDetails(message)).Append(' ');
        }

        var data = message.Data.Span;
        var line = new byte[Encoding.UTF8.GetByteCount(prefix.ToString()) + data.Length + 1];
        var written = Encoding.UTF8.GetBytes(prefix.ToString(), line);
        data.CopyTo(line.AsSpan(written));
        line[^1] = (byte)'\n';
        return line;
    }

    /// <summary>
    /// The details field: the message's attributes, then its context (which wins over an attribute of the same key, as in
    /// moby), sorted by key, each <c>QueryEscape(key)=QueryEscape(value)</c>, joined by commas.
    /// </summary>
    public static string FormatDetails(Proto.LogMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        var pairs = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var attr in message.Attrs)
        {
            pairs[attr.Key] = attr.Value;
        }

        pairs[NodeIdKey] = message.Context?.NodeId ?? string.Empty;
        pairs[ServiceIdKey] = message.Context?.ServiceId ?? string.Empty;
        pairs[TaskIdKey] = message.Context?.TaskId ?? string.Empty;
        return string.Join(',', pairs.Select(p => QueryEscape(p.Key) + "=" + QueryEscape(p.Value)));
    }

    /// <summary>Go's <c>RFC3339NanoFixed</c> in UTC: always nine fractional digits (the zero time when absent).</summary>
    public static string FormatTimestamp(Timestamp? timestamp)
    {
        if (timestamp is null)
        {
            return "0001-01-01T00:00:00.000000000Z";
        }

        var seconds = DateTimeOffset.FromUnixTimeSeconds(timestamp.Seconds).UtcDateTime;
        return seconds.ToString("yyyy-MM-dd'T'HH:mm:ss", CultureInfo.InvariantCulture) + "." + timestamp.Nanos.ToString("D9", CultureInfo.InvariantCulture) + "Z";
    }

    /// <summary>Writes <paramref name="payload"/> in one multiplexed frame of <paramref name="stream"/>.</summary>
    public static async Task WriteFrameAsync(Stream output, byte stream, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(output);
        var header = new byte[8];
        header[0] = stream;
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(4), (uint)payload.Length);
        await output.WriteAsync(header, cancellationToken);
        await output.WriteAsync(payload, cancellationToken);
    }

    /// <summary>Go's <c>url.QueryEscape</c>: unreserved characters kept, a space as '+', everything else %XX (UTF-8).</summary>
    public static string QueryEscape(string text) => Uri.EscapeDataString(text).Replace("%20", "+", StringComparison.Ordinal);
}
