using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using Google.Protobuf;
using Shoal.Api;
using Shoal.Api.Naming;
using Shoal.Ca;
using Shoal.Ca.Certificates;
using Shoal.Ca.Client;

namespace Shoal.Bench;

/// <summary>
/// A group of manager processes on loopback (each <c>Shoal.Bench raft-member</c>), with certificates from one CA,
/// that can be killed with SIGKILL and restarted from their directories. Used by the benchmarks and by the
/// integration tests.
/// </summary>
public sealed class RaftGroup : IAsyncDisposable
{
    private readonly string _root;
    private readonly RaftGroupOptions _options;
    private readonly Action<string> _log;

    private RaftGroup(string root, RaftGroupOptions options, Action<string> log)
    {
        _root = root;
        _options = options;
        _log = log;
    }

    /// <summary>The members, by Raft ID order.</summary>
    public List<RaftMemberHandle> Members { get; } = [];

    /// <summary>Starts <paramref name="size"/> members under <paramref name="root"/>: the first founds the group, the others join.</summary>
    public static async Task<RaftGroup> StartAsync(int size, string root, RaftGroupOptions? options = null, Action<string>? log = null)
    {
        var group = new RaftGroup(root, options ?? new RaftGroupOptions(), log ?? (_ => { }));
        using var ca = RootCertificateAuthority.Create(DateTimeOffset.UtcNow);
        var clusterId = Identity.NewId();
        for (var i = 1; i <= size; i++)
        {
            var dir = Path.Combine(root, $"m{i}");
            Directory.CreateDirectory(dir);
            using var key = NodeKeys.Create();
            using var certificate = ca.SignNodeCertificate(NodeKeys.CreateSigningRequest(key), Identity.NewId(), NodeRole.Manager, clusterId, TimeSpan.FromDays(30), DateTimeOffset.UtcNow);
            using var credentials = NodeCredentials.Create(certificate, key, System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(ca.CertificatePem));
            new CertificateDirectory(Path.Combine(dir, "certificates")).Save(credentials);
            group.Members.Add(new RaftMemberHandle(group, (ulong)i, dir, FreePort(), credentials.NodeId));
        }

        try
        {
            await group.Members[0].StartAsync(bootstrap: true, peers: []);
            await group.WaitForLeaderAsync(TimeSpan.FromSeconds(30));
            foreach (var member in group.Members.Skip(1))
            {
                await member.StartAsync(bootstrap: false, peers: [group.Members[0]]);

                // A group of two loses its quorum while the newcomer warms up, and the leader may step down:
                // ask whoever leads until the change is applied (adding a present member is a no-op).
                var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
                while (true)
                {
                    var leader = await group.WaitForLeaderAsync(TimeSpan.FromSeconds(30));
                    using var response = await leader.Control.PostAsync("/add-member", new StringContent(JsonFormatter.Default.Format(member.Self)));
                    if (response.IsSuccessStatusCode)
                    {
                        break;
                    }

                    if (DateTime.UtcNow > deadline)
                    {
                        throw new InvalidOperationException($"adding member {member.RaftId} failed: {await response.Content.ReadAsStringAsync()}");
                    }

                    await Task.Delay(50);
                }
            }

            await group.WaitForAsync(async () => (await Task.WhenAll(group.Members.Select(m => m.StatusAsync()))).All(s => s is { Members: var n } && n == size), "all members know the whole group", TimeSpan.FromSeconds(30));
            return group;
        }
        catch
        {
            await group.DisposeAsync();
            throw;
        }
    }

    internal RaftGroupOptions Options => _options;

    internal void Log(string line) => _log(line);

    /// <summary>The one member that says it leads, among the running ones.</summary>
    public async Task<RaftMemberHandle> WaitForLeaderAsync(TimeSpan timeout, RaftMemberHandle? except = null)
    {
        RaftMemberHandle? found = null;
        await WaitForAsync(async () =>
        {
            foreach (var member in Members.Where(m => m.IsRunning && m != except))
            {
                if (await member.StatusAsync() is { IsLeader: true })
                {
                    found = member;
                    return true;
                }
            }

            return false;
        }, "a leader", timeout);
        return found!;
    }

    /// <summary>Polls <paramref name="condition"/> every 5 ms until it holds.</summary>
    public async Task WaitForAsync(Func<Task<bool>> condition, string what, TimeSpan timeout)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        while (!await condition())
        {
            if (Stopwatch.GetTimestamp() > deadline)
            {
                throw new TimeoutException($"timed out after {timeout.TotalSeconds:0.#} s waiting for {what}");
            }

            await Task.Delay(5);
        }
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        foreach (var member in Members)
        {
            member.Kill();
            member.Dispose();
        }

        await Task.CompletedTask;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

/// <summary>Timing of a member group.</summary>
public sealed record RaftGroupOptions
{
    /// <summary>Milliseconds per Raft tick.</summary>
    public int TickMilliseconds { get; init; } = 100;

    /// <summary>Ticks before an election.</summary>
    public int ElectionTick { get; init; } = 10;

    /// <summary>Entries between snapshots.</summary>
    public ulong SnapshotInterval { get; init; } = 10_000;

    /// <summary>Members' log level.</summary>
    public string LogLevel { get; init; } = "Warning";
}

/// <summary>One member process of a <see cref="RaftGroup"/>.</summary>
public sealed class RaftMemberHandle : IDisposable
{
    private readonly RaftGroup _group;
    private Process? _process;

    internal RaftMemberHandle(RaftGroup group, ulong raftId, string directory, int port, string nodeId)
    {
        _group = group;
        RaftId = raftId;
        Directory = directory;
        Port = port;
        Self = new RaftMember { RaftId = raftId, NodeId = nodeId, Addr = $"127.0.0.1:{port}" };
        ControlSocket = Path.Combine(directory, "control.sock");
        Control = new HttpClient(new SocketsHttpHandler
        {
            ConnectCallback = async (_, cancellationToken) =>
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await socket.ConnectAsync(new UnixDomainSocketEndPoint(ControlSocket), cancellationToken);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        })
        {
            BaseAddress = new Uri("http://member"),
            Timeout = TimeSpan.FromSeconds(30),
        };
    }

    /// <summary>The Raft ID.</summary>
    public ulong RaftId { get; }

    /// <summary>The member's data directory.</summary>
    public string Directory { get; }

    /// <summary>The cluster port.</summary>
    public int Port { get; }

    /// <summary>The member as the group knows it.</summary>
    public RaftMember Self { get; }

    /// <summary>The control socket.</summary>
    public string ControlSocket { get; }

    /// <summary>HTTP over the control socket.</summary>
    public HttpClient Control { get; }

    /// <summary>Whether the process runs.</summary>
    public bool IsRunning => _process is { HasExited: false };

    /// <summary>Starts (or restarts) the process and waits until it serves its control socket.</summary>
    public async Task StartAsync(bool bootstrap = false, IReadOnlyList<RaftMemberHandle>? peers = null)
    {
        var options = _group.Options;
        var arguments = new List<string>
        {
            typeof(RaftGroup).Assembly.Location, "raft-member",
            "--dir", Directory, "--raft-id", RaftId.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--listen", $"127.0.0.1:{Port}", "--control", ControlSocket,
            "--tick-ms", options.TickMilliseconds.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--election-tick", options.ElectionTick.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--snapshot-interval", options.SnapshotInterval.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--log-level", options.LogLevel,
        };
        if (bootstrap)
        {
            arguments.Add("--bootstrap");
        }

        if (peers is { Count: > 0 })
        {
            arguments.Add("--peers");
            arguments.Add(string.Join(',', peers.Select(p => $"{p.RaftId}=127.0.0.1:{p.Port}")));
        }

        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        _process = Process.Start(info) ?? throw new InvalidOperationException("could not start a member process");
        _process.OutputDataReceived += (_, e) => { if (e.Data is not null) _group.Log($"[m{RaftId}] {e.Data}"); };
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) _group.Log($"[m{RaftId}!] {e.Data}"); };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        await _group.WaitForAsync(async () => await StatusAsync() is not null || !IsRunning, $"member {RaftId} to serve", TimeSpan.FromSeconds(60));
        if (!IsRunning)
        {
            throw new InvalidOperationException($"member {RaftId} exited with {_process.ExitCode} while starting");
        }
    }

    /// <summary>SIGKILL: no shutdown, no flush.</summary>
    public void Kill()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }
    }

    /// <summary>The member's status, or null when it does not answer.</summary>
    public async Task<StatusView?> StatusAsync()
    {
        try
        {
            return await Control.GetFromJsonAsync<StatusView>("/status");
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
        {
            return null;
        }
    }

    /// <summary>Writes a key (a config object) through this member; the reply says "ok", "exists", "not-leader" or "unknown".</summary>
    public async Task<string> PutAsync(string key)
    {
        try
        {
            using var response = await Control.PostAsync($"/put/{Uri.EscapeDataString(key)}", null);
            var reply = await response.Content.ReadFromJsonAsync<PutView>();
            return reply?.Result ?? "unknown";
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
        {
            return "unknown";
        }
    }

    /// <summary>The keys in this member's store.</summary>
    public async Task<string[]> KeysAsync() => await Control.GetFromJsonAsync<string[]>("/keys") ?? [];

    /// <summary>A digest of this member's store.</summary>
    public async Task<DigestView> DigestAsync() => (await Control.GetFromJsonAsync<DigestView>("/digest"))!;

    /// <summary>Raw proposals measured in the member (it must lead).</summary>
    public async Task<ThroughputView> ThroughputAsync(int writers, int seconds, int size)
    {
        using var response = await Control.PostAsync($"/throughput?writers={writers}&seconds={seconds}&size={size}", null);
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"member {RaftId}: {await response.Content.ReadAsStringAsync()}");
        }

        return (await response.Content.ReadFromJsonAsync<ThroughputView>())!;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        Control.Dispose();
        _process?.Dispose();
    }
}

/// <summary>A member's status as its control socket reports it.</summary>
public sealed record StatusView(ulong RaftId, bool IsLeader, ulong Leader, ulong Term, ulong Committed, ulong Applied, int Members);

/// <summary>A write's result.</summary>
public sealed record PutView(string Result, ulong Version, ulong Leader);

/// <summary>A store digest.</summary>
public sealed record DigestView(string Digest, int Count, ulong Version);

/// <summary>Throughput figures.</summary>
public sealed record ThroughputView(int Commits, double PerSecond, double P50Ms, double P99Ms);
