using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Google.Protobuf;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;
using Shoal.Api;
using Shoal.Api.Naming;
using Shoal.Ca;
using Shoal.Ca.Client;
using Shoal.Manager;
using Shoal.Raft;
using Shoal.Raft.Core;
using Shoal.Raft.Transport;
using Shoal.Store;

namespace Shoal.Bench;

/// <summary>
/// One manager as its own OS process: cluster port with mutual TLS, Raft with its WAL on disk, a store glued to it.
/// A control endpoint on a unix socket (local only, not cluster traffic) lets the driver write, read and measure.
/// </summary>
internal static class RaftMemberProcess
{
    public static async Task<int> RunAsync(MemberArguments args)
    {
        using var loggerFactory = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(args.LogLevel));
        var credentials = new CertificateDirectory(Path.Combine(args.Directory, "certificates")).Load()
            ?? throw new InvalidOperationException($"no certificates in {args.Directory}/certificates");
        var security = new NodeSecurity(credentials);
        var relay = new RaftMessageRelay();
        await using var port = await ClusterPortServer.StartAsync(args.Listen, security, NoRemovedNodes.Instance, p => p.MapRaft(relay), loggerFactory);

        var proposer = new StoreProposer();
        using var store = proposer.CreateStore();
        var self = new RaftMember { RaftId = args.RaftId, NodeId = credentials.NodeId, Addr = $"{args.Listen.Address}:{args.Listen.Port}" };
        await using var raft = await RaftNode.StartAsync(
            new RaftNodeOptions
            {
                Directory = Path.Combine(args.Directory, "raft"),
                Self = self,
                TickInterval = TimeSpan.FromMilliseconds(args.TickMilliseconds),
                ElectionTick = args.ElectionTick,
                SnapshotInterval = args.SnapshotInterval,
            },
            proposer,
            security,
            args.Bootstrap,
            args.Peers,
            loggerFactory);
        proposer.Attach(raft);
        relay.Target = raft.Sink;

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        if (File.Exists(args.Control))
        {
            File.Delete(args.Control);
        }

        builder.WebHost.ConfigureKestrel(k => k.ListenUnixSocket(args.Control, o => o.Protocols = HttpProtocols.Http1));
        await using var app = builder.Build();
        app.MapGet("/status", async () =>
        {
            var status = await raft.StatusAsync();
            return Results.Json(new StatusReply(raft.Id, status.Role == RaftRole.Leader, status.Lead, status.Term, status.Committed, status.Applied, raft.Members.Count));
        });
        app.MapPost("/put/{key}", async (string key) => await PutAsync(store, key));
        app.MapGet("/keys", () => Results.Json(store.View().Configs.All().Select(c => c.Spec.Annotations.Name).ToArray()));
        app.MapGet("/digest", () =>
        {
            var view = store.View();
            var digest = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(MemoryStore.Save(view).ToByteArray()));
            return Results.Json(new DigestReply(digest, view.Configs.Count, view.Version));
        });
        app.MapPost("/add-member", async (HttpContext context) =>
        {
            var member = RaftMember.Parser.ParseJson(await new StreamReader(context.Request.Body).ReadToEndAsync());
            try
            {
                await raft.AddMemberAsync(member);
                return Results.Ok();
            }
            catch (Exception e)
            {
                return Results.Problem(e.ToString());
            }
        });
        app.MapPost("/throughput", async (int writers, int seconds, int size) =>
        {
            try
            {
                return Results.Json(await ThroughputAsync(raft, writers, seconds, size));
            }
            catch (Exception e)
            {
                return Results.Problem(e.ToString());
            }
        });
        await app.StartAsync();
        Console.WriteLine($"ready {args.RaftId}");

        var stop = new TaskCompletionSource();
        using var sigterm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, c =>
        {
            c.Cancel = true;
            stop.TrySetResult();
        });
        await stop.Task;
        return 0;
    }

    private static async Task<IResult> PutAsync(MemoryStore store, string key)
    {
        try
        {
            await store.UpdateAsync(tx => tx.Create(new Config
            {
                Id = Identity.NewId(),
                Meta = new Meta(),
                Spec = new ConfigSpec { Annotations = new Annotations { Name = key }, Data = ByteString.CopyFromUtf8(key) },
            }));
            return Results.Json(new PutReply("ok", store.Version, 0));
        }
        catch (NameConflictException)
        {
            // Committed by an earlier attempt: the write is there exactly once.
            return Results.Json(new PutReply("exists", store.Version, 0));
        }
        catch (NotLeaderException e)
        {
            return Results.Json(new PutReply("not-leader", 0, e.LeaderId), statusCode: StatusCodes.Status421MisdirectedRequest);
        }
        catch (LeadershipLostException)
        {
            return Results.Json(new PutReply("unknown", 0, 0), statusCode: StatusCodes.Status503ServiceUnavailable);
        }
        catch (StaleTransactionException)
        {
            // Checked against a state this member has moved past (it was a follower then): nothing was proposed.
            return Results.Json(new PutReply("stale", 0, 0), statusCode: StatusCodes.Status503ServiceUnavailable);
        }
    }

    private static ByteString PaddedTransaction(int size)
    {
        // Field 15, wire type 2 (length-delimited): tag 0x7A, then a varint length, then the padding.
        var padding = Math.Max(0, size - 3);
        using var stream = new MemoryStream();
        var output = new CodedOutputStream(stream);
        output.WriteTag(15, WireFormat.WireType.LengthDelimited);
        output.WriteBytes(ByteString.CopyFrom(new byte[padding]));
        output.Flush();
        var bytes = ByteString.CopyFrom(stream.ToArray());
        StoreTransaction.Parser.ParseFrom(bytes); // it must parse as a transaction on every member
        return bytes;
    }

    /// <summary>Raw Raft entries of <paramref name="size"/> bytes proposed here by concurrent writers for a while.</summary>
    private static async Task<ThroughputReply> ThroughputAsync(RaftNode raft, int writers, int seconds, int size)
    {
        // An empty store transaction padded with an unknown field to the size asked: every member applies it as a
        // no-op write, as it would a real one.
        var payload = PaddedTransaction(size);
        var latencies = new List<double>[writers];
        var stopAt = Stopwatch.GetTimestamp() + (long)(seconds * (double)Stopwatch.Frequency);
        var started = Stopwatch.GetTimestamp();
        await Task.WhenAll(Enumerable.Range(0, writers).Select(w => Task.Run(async () =>
        {
            var mine = latencies[w] = [];
            while (Stopwatch.GetTimestamp() < stopAt)
            {
                var t0 = Stopwatch.GetTimestamp();
                await raft.ProposeAsync(payload, _ => { });
                mine.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
            }
        })));
        var elapsed = Stopwatch.GetElapsedTime(started).TotalSeconds;
        var all = latencies.SelectMany(l => l).Order().ToArray();
        double Percentile(double p) => all.Length == 0 ? 0 : all[Math.Min(all.Length - 1, (int)(p * all.Length))];
        return new ThroughputReply(all.Length, all.Length / elapsed, Percentile(0.5), Percentile(0.99));
    }
}

internal sealed record StatusReply(ulong RaftId, bool IsLeader, ulong Leader, ulong Term, ulong Committed, ulong Applied, int Members);

internal sealed record PutReply(string Result, ulong Version, ulong Leader);

internal sealed record DigestReply(string Digest, int Count, ulong Version);

internal sealed record ThroughputReply(int Commits, double PerSecond, double P50Ms, double P99Ms);

internal sealed record MemberArguments(
    string Directory, ulong RaftId, IPEndPoint Listen, string Control, bool Bootstrap, IReadOnlyList<RaftMember> Peers,
    int TickMilliseconds, int ElectionTick, ulong SnapshotInterval, LogLevel LogLevel)
{
    public static MemberArguments Parse(string[] args)
    {
        string Get(string name, string? fallback = null)
        {
            var i = Array.IndexOf(args, name);
            return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback ?? throw new ArgumentException($"missing {name}");
        }

        var listen = Get("--listen");
        var (host, portNumber) = ClusterChannels.SplitHostPort(listen);
        var peers = Get("--peers", string.Empty).Split(',', StringSplitOptions.RemoveEmptyEntries).Select(p =>
        {
            var parts = p.Split('=', 2);
            return new RaftMember { RaftId = ulong.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture), Addr = parts[1] };
        }).ToList();
        return new MemberArguments(
            Get("--dir"),
            ulong.Parse(Get("--raft-id"), System.Globalization.CultureInfo.InvariantCulture),
            new IPEndPoint(IPAddress.Parse(host), portNumber),
            Get("--control"),
            args.Contains("--bootstrap"),
            peers,
            int.Parse(Get("--tick-ms", "100"), System.Globalization.CultureInfo.InvariantCulture),
            int.Parse(Get("--election-tick", "10"), System.Globalization.CultureInfo.InvariantCulture),
            ulong.Parse(Get("--snapshot-interval", "10000"), System.Globalization.CultureInfo.InvariantCulture),
            Enum.Parse<LogLevel>(Get("--log-level", "Warning")));
    }
}
