using System.Collections.Concurrent;
using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace Shoal.Cli.Tests;

/// <summary>One request as it crossed the socket: <c>METHOD /path?query</c> and its body (empty when none).</summary>
internal sealed record RecordedRequest(string Line, string Body);

/// <summary>
/// A unix socket in front of the Docker API that passes every byte through and records each request the CLI sends,
/// so tests can hold the CLI to the docker CLI's request sequences (reference/docker-api-subset.md §3).
/// </summary>
internal sealed class RecordingProxy : IAsyncDisposable
{
    private static readonly byte[] EndOfHead = "\r\n\r\n"u8.ToArray();

    private readonly Socket _listener;
    private readonly string _target;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentQueue<RecordedRequest> _requests = new();
    private readonly ConcurrentBag<Task> _relays = [];
    private readonly Task _accepting;

    private RecordingProxy(string socketPath, string target)
    {
        SocketPath = socketPath;
        _target = target;
        _listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        _listener.Bind(new UnixDomainSocketEndPoint(socketPath));
        _listener.Listen();
        _accepting = AcceptAsync();
    }

    public string SocketPath { get; }

    /// <summary>The requests so far, in the order they were sent.</summary>
    public IReadOnlyList<RecordedRequest> Requests => [.. _requests];

    /// <summary>The request lines so far (<c>GET /v1.50/nodes</c>), in order.</summary>
    public IReadOnlyList<string> Lines => [.. _requests.Select(r => r.Line)];

    public static RecordingProxy Start(string socketPath, string target) => new(socketPath, target);

    public void Clear() => _requests.Clear();

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Dispose();
        await _accepting;
        await Task.WhenAll(_relays);
        _stop.Dispose();
        File.Delete(SocketPath);
    }

    private async Task AcceptAsync()
    {
        while (true)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            _relays.Add(RelayAsync(client));
        }
    }

    private async Task RelayAsync(Socket client)
    {
        using var clientSocket = client;
        using var server = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await server.ConnectAsync(new UnixDomainSocketEndPoint(_target), _stop.Token);
            await using var fromClient = new NetworkStream(client, ownsSocket: false);
            await using var toServer = new NetworkStream(server, ownsSocket: false);
            var answers = toServer.CopyToAsync(fromClient, _stop.Token);
            var requests = RecordAsync(fromClient, toServer, _stop.Token);
            await Task.WhenAny(answers, requests);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or SocketException or ObjectDisposedException)
        {
            // The CLI or the server hung up, or the test is over.
        }
    }

    /// <summary>Forwards what the client sends, splitting it into requests by their heads and Content-Length.</summary>
    private async Task RecordAsync(Stream from, Stream to, CancellationToken cancellationToken)
    {
        var pending = new List<byte>();
        string? line = null;
        var bodyLength = 0;
        var chunk = new byte[8192];
        int read;
        while ((read = await from.ReadAsync(chunk, cancellationToken)) > 0)
        {
            // Recorded before it is passed on: a request is in the list before the server can have answered it.
            pending.AddRange(chunk.AsSpan(0, read));
            while (true)
            {
                if (line is null)
                {
                    var end = IndexOf(pending, EndOfHead);
                    if (end < 0)
                    {
                        break;
                    }

                    var head = Encoding.ASCII.GetString([.. pending.GetRange(0, end)]).Split("\r\n");
                    line = head[0][..head[0].LastIndexOf(' ')];
                    bodyLength = head.Skip(1)
                        .Where(h => h.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))
                        .Select(h => int.Parse(h["Content-Length:".Length..].Trim(), CultureInfo.InvariantCulture))
                        .FirstOrDefault();
                    pending.RemoveRange(0, end + EndOfHead.Length);
                }

                if (pending.Count < bodyLength)
                {
                    break;
                }

                _requests.Enqueue(new RecordedRequest(line, Encoding.UTF8.GetString([.. pending.GetRange(0, bodyLength)])));
                pending.RemoveRange(0, bodyLength);
                line = null;
                bodyLength = 0;
            }

            await to.WriteAsync(chunk.AsMemory(0, read), cancellationToken);
        }
    }

    private static int IndexOf(List<byte> bytes, byte[] pattern)
    {
        for (var i = 0; i + pattern.Length <= bytes.Count; i++)
        {
            var match = true;
            for (var j = 0; j < pattern.Length && match; j++)
            {
                match = bytes[i + j] == pattern[j];
            }

            if (match)
            {
                return i;
            }
        }

        return -1;
    }
}
