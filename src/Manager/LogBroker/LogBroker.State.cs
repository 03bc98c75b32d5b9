using System.Threading.Channels;
using Grpc.Core;
using Shoal.Api;

namespace Shoal.Manager.LogBroker;

public sealed partial class LogBroker
{
    /// <summary>Where a subscription stands with one node.</summary>
    private enum PartState
    {
        /// <summary>Not sent yet: the node has no listener (or its listener went away, with follow).</summary>
        Waiting,

        /// <summary>Sent to the node's listener; lines may come.</summary>
        Sent,

        /// <summary>The node sent everything (close), or was given up.</summary>
        Done,
    }

    /// <summary>One client subscription. Its fields are guarded by the broker's lock, except <see cref="Output"/>.</summary>
    private sealed class Subscription(string id, LogSubscriptionOptions options, int bufferBatches)
    {
        private readonly Dictionary<string, string> _services = new(StringComparer.Ordinal);
        private RpcException? _failure;

        public string Id { get; } = id;

        public LogSubscriptionOptions Options { get; } = options;

        /// <summary>The batches for the client, bounded: publishers wait for a slow reader (up to the publish timeout).</summary>
        public Channel<SubscribeLogsMessage> Output { get; } = Channel.CreateBounded<SubscribeLogsMessage>(new BoundedChannelOptions(bufferBatches)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
        });

        public Dictionary<string, NodePart> Nodes { get; } = new(StringComparer.Ordinal);

        public int TaskCount => _services.Count;

        /// <summary>Adds a task with a node; false when it was known already.</summary>
        public bool AddTask(SwarmTask task)
        {
            if (task.NodeId.Length == 0 || !_services.TryAdd(task.Id, task.ServiceId))
            {
                return false;
            }

            if (!Nodes.TryGetValue(task.NodeId, out var part))
            {
                Nodes[task.NodeId] = part = new NodePart(task.NodeId);
            }

            part.TaskIds.Add(task.Id);
            return true;
        }

        public string ServiceOf(string taskId) => _services.GetValueOrDefault(taskId) ?? string.Empty;

        /// <summary>Why the broker ended the stream, when it did (not the client).</summary>
        public RpcException? Failure => Volatile.Read(ref _failure);

        /// <summary>Cancelled when the broker ends the stream: a write stuck on a client that does not read gives up.</summary>
        public CancellationTokenSource Aborted { get; } = new();

        public void Fail(RpcException error)
        {
            Interlocked.CompareExchange(ref _failure, error, null);
            Output.Writer.TryComplete(error);
            Aborted.Cancel();
        }
    }

    /// <summary>A subscription's tasks on one node and how far that node is.</summary>
    private sealed class NodePart(string nodeId)
    {
        public string NodeId { get; } = nodeId;

        public HashSet<string> TaskIds { get; } = new(StringComparer.Ordinal);

        public PartState State { get; set; }

        /// <summary>The newest line received from the node (to resume after it listens again).</summary>
        public DateTimeOffset? LastTimestamp { get; set; }

        /// <summary>Gives the node up if it does not listen in time (without follow).</summary>
        public ITimer? Timer { get; set; }
    }

    /// <summary>A node's open <c>ListenSubscriptions</c> stream.</summary>
    private sealed class NodeListener(string nodeId, int capacity)
    {
        public string NodeId { get; } = nodeId;

        /// <summary>Messages for the node, bounded: a listener that falls that far behind is cut off.</summary>
        public Channel<SubscriptionMessage> Queue { get; } = Channel.CreateBounded<SubscriptionMessage>(new BoundedChannelOptions(capacity)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
        });

        /// <summary>Ends the stream: quietly (replaced by a newer listener) or with <paramref name="error"/>.</summary>
        public void End(RpcException? error) => Queue.Writer.TryComplete(error);
    }
}
