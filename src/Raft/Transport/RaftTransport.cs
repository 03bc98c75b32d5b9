using System.Collections.Concurrent;
using System.Threading.Channels;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Shoal.Api;
using Shoal.Ca;
using Shoal.Ca.Client;

namespace Shoal.Raft.Transport;

/// <summary>What the transport hands to the Raft driver.</summary>
public interface IRaftMessageSink
{
    /// <summary>A message from a peer (the caller's node ID is what its certificate says).</summary>
    void Receive(RaftMessage message, string callerNodeId);

    /// <summary>A peer could not be reached: the leader stops streaming to it until it answers again.</summary>
    void ReportUnreachable(ulong raftId);

    /// <summary>How sending a snapshot to a peer ended.</summary>
    void ReportSnapshot(ulong raftId, bool failed);
}

/// <summary>
/// Sends Raft messages to the other managers over their cluster ports (mutual TLS, managers only): one long-lived
/// client stream per peer, batched; snapshots in chunks on a call of their own. Peers are known by Raft ID; their
/// addresses can change. Sending never blocks the driver: a full queue drops messages, which Raft tolerates.
/// </summary>
public sealed partial class RaftTransport : IAsyncDisposable
{
    /// <summary>Bytes of snapshot data per chunk, well under the gRPC message limit.</summary>
    public const int SnapshotChunkSize = 1024 * 1024;

    private const int QueueCapacity = 4096;
    private const int MaxBatch = 512;

    private readonly NodeSecurity _security;
    private readonly IRaftMessageSink _sink;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<ulong, Peer> _peers = new();
    private readonly CancellationTokenSource _stopping = new();

    /// <summary>Creates the transport.</summary>
    public RaftTransport(NodeSecurity security, IRaftMessageSink sink, ILogger<RaftTransport>? logger = null)
    {
        _security = security;
        _sink = sink;
        _logger = logger ?? NullLogger<RaftTransport>.Instance;
    }

    /// <summary>Adds a peer, or changes its address.</summary>
    public void SetPeer(ulong raftId, string address)
    {
        if (_peers.TryGetValue(raftId, out var existing))
        {
            if (existing.Address == address)
            {
                return;
            }

            _peers.TryRemove(raftId, out _);
            _ = existing.DisposeAsync().AsTask();
        }

        _peers[raftId] = new Peer(this, raftId, address);
    }

    /// <summary>Forgets a peer (removed from the group).</summary>
    public async ValueTask RemovePeerAsync(ulong raftId)
    {
        if (_peers.TryRemove(raftId, out var peer))
        {
            await peer.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>The peers known now.</summary>
    public IReadOnlyCollection<ulong> Peers => [.. _peers.Keys];

    /// <summary>Queues a message for its peer; an unknown peer or a full queue is reported unreachable.</summary>
    public void Send(RaftMessage message)
    {
        if (!_peers.TryGetValue(message.To, out var peer))
        {
            _sink.ReportUnreachable(message.To);
            if (message.Type == RaftMessageType.RaftMsgSnap)
            {
                _sink.ReportSnapshot(message.To, failed: true);
            }

            return;
        }

        peer.Enqueue(message);
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        foreach (var peer in _peers.Values)
        {
            await peer.DisposeAsync().ConfigureAwait(false);
        }

        _peers.Clear();
        _stopping.Dispose();
    }

    private sealed class Peer : IAsyncDisposable
    {
        private readonly RaftTransport _owner;
        private readonly ulong _raftId;
        private readonly Channel<RaftMessage> _queue = Channel.CreateBounded<RaftMessage>(new BoundedChannelOptions(QueueCapacity)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.DropWrite,
        });

        private readonly Channel<RaftMessage> _snapshots = Channel.CreateBounded<RaftMessage>(new BoundedChannelOptions(1)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.DropWrite,
        });

        private readonly CancellationTokenSource _stop;
        private readonly GrpcChannel _channel;
        private readonly Task _messages;
        private readonly Task _snapshotSender;

        public Peer(RaftTransport owner, ulong raftId, string address)
        {
            _owner = owner;
            _raftId = raftId;
            Address = address;
            _stop = CancellationTokenSource.CreateLinkedTokenSource(owner._stopping.Token);
            _channel = ClusterChannels.Create(address, owner._security);
            _messages = Task.Run(() => RunMessagesAsync(_stop.Token));
            _snapshotSender = Task.Run(() => RunSnapshotsAsync(_stop.Token));
        }

        public string Address { get; }

        public void Enqueue(RaftMessage message)
        {
            if (message.Type == RaftMessageType.RaftMsgSnap)
            {
                if (!_snapshots.Writer.TryWrite(message))
                {
                    _owner._sink.ReportSnapshot(_raftId, failed: true);
                }

                return;
            }

            if (!_queue.Writer.TryWrite(message))
            {
                _owner._sink.ReportUnreachable(_raftId);
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync().ConfigureAwait(false);
            _queue.Writer.TryComplete();
            _snapshots.Writer.TryComplete();
            try
            {
                await Task.WhenAll(_messages, _snapshotSender).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }

            _channel.Dispose();
            _stop.Dispose();
        }

        private async Task RunMessagesAsync(CancellationToken cancellationToken)
        {
            var client = new Api.Raft.RaftClient(_channel);
            var failures = 0;
            while (!cancellationToken.IsCancellationRequested)
            {
                try
                {
                    // Wait for something to send before opening a stream.
                    if (!await _queue.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
                    {
                        return;
                    }

                    using var call = client.Send(cancellationToken: cancellationToken);
                    var batch = new RaftMessageBatch();
                    while (await _queue.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
                    {
                        batch.Messages.Clear();
                        while (batch.Messages.Count < MaxBatch && _queue.Reader.TryRead(out var message))
                        {
                            batch.Messages.Add(message);
                        }

                        await call.RequestStream.WriteAsync(batch, cancellationToken).ConfigureAwait(false);
                        failures = 0;
                    }

                    await call.RequestStream.CompleteAsync().ConfigureAwait(false);
                    return;
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception e) when (e is RpcException or IOException or InvalidOperationException or ObjectDisposedException)
                {
                    failures++;
                    LogStreamFailed(_owner._logger, _raftId, Address, e.Message);
                    _owner._sink.ReportUnreachable(_raftId);

                    // Drop what was queued: Raft resends what matters, and stale messages only slow recovery.
                    while (_queue.Reader.TryRead(out _))
                    {
                    }

                    var backoff = TimeSpan.FromMilliseconds(Math.Min(50 * (1 << Math.Min(failures, 6)), 2000));
                    await Task.Delay(backoff, cancellationToken).ConfigureAwait(false);
                }
            }
        }

        private async Task RunSnapshotsAsync(CancellationToken cancellationToken)
        {
            var client = new Api.Raft.RaftClient(_channel);
            await foreach (var message in _snapshots.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                try
                {
                    using var call = client.SendSnapshot(cancellationToken: cancellationToken);
                    var data = message.Snapshot.Data;
                    var header = message.Clone();
                    header.Snapshot.Data = ByteString.Empty;
                    var offset = 0;
                    var first = true;
                    do
                    {
                        var length = Math.Min(SnapshotChunkSize, data.Length - offset);
                        var chunk = new RaftSnapshotChunk
                        {
                            Data = ByteString.CopyFrom(data.Span.Slice(offset, length)),
                            Last = offset + length >= data.Length,
                        };
                        if (first)
                        {
                            chunk.Message = header;
                            first = false;
                        }

                        await call.RequestStream.WriteAsync(chunk, cancellationToken).ConfigureAwait(false);
                        offset += length;
                    }
                    while (offset < data.Length);

                    await call.RequestStream.CompleteAsync().ConfigureAwait(false);
                    await call.ResponseAsync.ConfigureAwait(false);
                    LogSnapshotSent(_owner._logger, message.Snapshot.Metadata.Index, _raftId, data.Length);
                    _owner._sink.ReportSnapshot(_raftId, failed: false);
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception e) when (e is RpcException or IOException or InvalidOperationException)
                {
                    LogStreamFailed(_owner._logger, _raftId, Address, e.Message);
                    _owner._sink.ReportSnapshot(_raftId, failed: true);
                }
            }
        }
    }

    [LoggerMessage(EventId = 4101, Level = LogLevel.Debug, Message = "Raft stream to {RaftId:x} at {Address} failed: {Reason}")]
    private static partial void LogStreamFailed(ILogger logger, ulong raftId, string address, string reason);

    [LoggerMessage(EventId = 4102, Level = LogLevel.Information, Message = "Sent the snapshot at {Index} to {RaftId:x} ({Bytes} bytes)")]
    private static partial void LogSnapshotSent(ILogger logger, ulong index, ulong raftId, int bytes);
}
