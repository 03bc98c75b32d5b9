using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using Shoal.DockerApi.Model;

namespace Shoal.Cli.Output;

/// <summary>How <c>service logs</c> shows lines (its flags).</summary>
/// <param name="Timestamps">Lines start with their RFC 3339 timestamp (<c>--timestamps</c>; the node sends it).</param>
/// <param name="NoTaskIds">Task IDs are left out of the prefix (<c>--no-task-ids</c>).</param>
/// <param name="NoTrunc">Task IDs are shown whole (<c>--no-trunc</c>).</param>
/// <param name="Raw">Lines are written as the node sends them, without a prefix (<c>--raw</c>).</param>
internal sealed record ServiceLogOptions(bool Timestamps, bool NoTaskIds, bool NoTrunc, bool Raw);

/// <summary>Names the IDs a log line's details carry; the CLI backs it with the local API, caching each answer.</summary>
internal interface ILogContextResolver
{
    /// <summary>A node's name (<c>Spec.Name</c>, else its hostname); its ID when it cannot be read.</summary>
    Task<string> NodeNameAsync(string nodeId, CancellationToken cancellationToken);

    /// <summary>A service's name; its ID when it cannot be read.</summary>
    Task<string> ServiceNameAsync(string serviceId, CancellationToken cancellationToken);

    /// <summary>A task (for its slot).</summary>
    Task<SwarmTask> TaskAsync(string taskId, CancellationToken cancellationToken);
}

/// <summary>
/// <c>service logs</c>' reading of a log stream: Docker's multiplexed frames (8-byte header: stream, three zero
/// bytes, big-endian length; then one line), each line <c>[timestamp ]details message</c> where details carry
/// <c>com.docker.swarm.{node,service,task}.id</c>. Lines are written as docker writes them:
/// <c>web.1.0ze7r37r5357@worker-1    | message</c>, standard error lines to standard error.
/// </summary>
internal sealed class ServiceLogWriter(TextWriter output, TextWriter error, ServiceLogOptions options, ILogContextResolver resolver, int slotDigits)
{
    private const string NodeIdKey = "com.docker.swarm.node.id";
    private const string ServiceIdKey = "com.docker.swarm.service.id";
    private const string TaskIdKey = "com.docker.swarm.task.id";

    private readonly Dictionary<(string Node, string Service, string Task), string> _prefixes = [];

    /// <summary>Reads frames from <paramref name="stream"/> until it ends, writing each line.</summary>
    /// <exception cref="CommandException">A frame or a line that is not in Docker's format.</exception>
    public async Task CopyMultiplexedAsync(Stream stream, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var header = new byte[8];
        while (await ReadExactlyOrEndAsync(stream, header, cancellationToken))
        {
            var kind = header[0];
            var length = BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(4));
            if (kind > 3 || length > 16 * 1024 * 1024)
            {
                throw new CommandException("the node's log stream is not in Docker's multiplexed format (a frame header is invalid)");
            }

            var payload = new byte[length];
            if (!await ReadExactlyOrEndAsync(stream, payload, cancellationToken))
            {
                throw new CommandException("the node's log stream ended inside a frame");
            }

            var text = Encoding.UTF8.GetString(payload);
            if (kind == 3)
            {
                // The node's own error, sent in the stream once the answer had started.
                throw new CommandException("error from the node while streaming logs: " + text.TrimEnd('\n'));
            }

            var target = kind == 2 ? error : output;
            foreach (var line in text.Split('\n'))
            {
                if (line.Length > 0)
                {
                    await WriteLineAsync(target, line, cancellationToken);
                }
            }

            await target.FlushAsync(cancellationToken);
        }
    }

    /// <summary>One line as the node sends it, written with its context prefix.</summary>
    public async Task WriteLineAsync(TextWriter target, string line, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(line);
        if (options.Raw)
        {
            await target.WriteAsync((line + "\n").AsMemory(), cancellationToken);
            return;
        }

        var parts = line.Split(' ', options.Timestamps ? 3 : 2);
        if (parts.Length != (options.Timestamps ? 3 : 2))
        {
            throw new CommandException($"invalid context in log message: {line}");
        }

        var details = ParseDetails(options.Timestamps ? parts[1] : parts[0]);
        var prefix = await PrefixAsync(details, cancellationToken);
        var text = new StringBuilder();
        if (options.Timestamps)
        {
            text.Append(parts[0]).Append(' ');
        }

        text.Append(prefix).Append("    | ").Append(parts[^1]).Append('\n');
        await target.WriteAsync(text.ToString().AsMemory(), cancellationToken);
    }

    /// <summary>The details of a line: a comma-separated list of URL-encoded <c>key=value</c>.</summary>
    public static Dictionary<string, string> ParseDetails(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var details = new Dictionary<string, string>(StringComparer.Ordinal);
        if (text.Length == 0)
        {
            return details;
        }

        foreach (var pair in text.Split(','))
        {
            var equals = pair.IndexOf('=', StringComparison.Ordinal);
            if (equals < 0)
            {
                throw new CommandException($"invalid details format in log message: {pair} is not key=value");
            }

            details[Uri.UnescapeDataString(pair[..equals])] = Uri.UnescapeDataString(pair[(equals + 1)..]);
        }

        return details;
    }

    private async Task<string> PrefixAsync(Dictionary<string, string> details, CancellationToken cancellationToken)
    {
        var node = Required(details, NodeIdKey, "node");
        var service = Required(details, ServiceIdKey, "service");
        var task = Required(details, TaskIdKey, "task");
        if (_prefixes.TryGetValue((node, service, task), out var cached))
        {
            return cached;
        }

        // docker's order: node, service, task.
        var nodeName = await resolver.NodeNameAsync(node, cancellationToken);
        var serviceName = await resolver.ServiceNameAsync(service, cancellationToken);
        var found = await resolver.TaskAsync(task, cancellationToken);
        var name = string.Create(CultureInfo.InvariantCulture, $"{serviceName}.{found.Slot}");
        if (!options.NoTaskIds)
        {
            name += "." + (options.NoTrunc ? found.ID : ServiceTables.TruncateId(found.ID));
        }

        var digits = found.Slot.ToString(CultureInfo.InvariantCulture).Length;
        var prefix = name + "@" + nodeName + new string(' ', Math.Max(0, slotDigits - digits));
        _prefixes[(node, service, task)] = prefix;
        return prefix;
    }

    private static string Required(Dictionary<string, string> details, string key, string what) =>
        details.TryGetValue(key, out var value) && value.Length > 0
            ? value
            : throw new CommandException($"missing {what} id in details (the node must send {key} with each line)");

    private static async Task<bool> ReadExactlyOrEndAsync(Stream stream, byte[] buffer, CancellationToken cancellationToken)
    {
        var read = 0;
        while (read < buffer.Length)
        {
            var n = await stream.ReadAsync(buffer.AsMemory(read), cancellationToken);
            if (n == 0)
            {
                return read == 0 && buffer.Length > 0 ? false : throw new CommandException("the node's log stream ended inside a frame");
            }

            read += n;
        }

        return true;
    }
}
