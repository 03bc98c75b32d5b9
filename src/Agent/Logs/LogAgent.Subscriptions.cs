using System.Collections.Concurrent;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Shoal.Api;

namespace Shoal.Agent.Logs;

public sealed partial class LogAgent
{
    /// <summary>
    /// Serves one subscription: sends the history of each task (filtered, tail applied), then without follow closes;
    /// with follow polls the files for new lines, and takes on tasks the broker adds, until stopped.
    /// </summary>
    private sealed class SubscriptionWorker
    {
        private readonly LogAgent _agent;
        private readonly Shoal.Api.LogBroker.LogBrokerClient _client;
        private readonly string _id;
        private readonly LogSubscriptionOptions _options;
        private readonly DateTimeOffset? _since;
        private readonly DateTimeOffset? _until;
        private readonly ConcurrentQueue<string> _added = new();
        private readonly HashSet<string> _known = new(StringComparer.Ordinal);
        private readonly List<(string TaskId, TaskLogReader Reader)> _readers = [];
        private readonly CancellationTokenSource _stop;
        private readonly List<LogMessage> _batch = [];
        private int _batchBytes;
        private Task _run = Task.CompletedTask;

        public SubscriptionWorker(LogAgent agent, Shoal.Api.LogBroker.LogBrokerClient client, string id, LogSubscriptionOptions options, IEnumerable<string> taskIds, CancellationToken cancellationToken)
        {
            _agent = agent;
            _client = client;
            _id = id;
            _options = options;
            _since = options.Since?.ToDateTimeOffset();
            _until = options.Until?.ToDateTimeOffset();
            _stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            Add(taskIds);
        }

        /// <summary>Completes when the worker ended (sent everything without follow, stopped, or failed).</summary>
        public Task Completion => _run;

        public void Start()
        {
            Interlocked.Increment(ref _agent._activeSubscriptions);
            _run = Task.Run(RunAsync);
        }

        /// <summary>Takes on more tasks (from a repeated subscription message).</summary>
        public void Add(IEnumerable<string> taskIds)
        {
            foreach (var id in taskIds)
            {
                _added.Enqueue(id);
            }
        }

        public async Task StopAsync()
        {
            try
            {
                await _stop.CancelAsync();
            }
            catch (ObjectDisposedException)
            {
                // It ended by itself meanwhile.
            }

            await _run;
        }

        private async Task RunAsync()
        {
            var token = _stop.Token;
            try
            {
                LogServing(_agent._logger, _id, _added.Count, _options.Follow);
                await TakeAddedAsync(token);
                await FlushAsync(close: !_options.Follow, token);
                if (!_options.Follow)
                {
                    return;
                }

                while (true)
                {
                    await Task.Delay(_agent._options.PollInterval, _agent._time, token);
                    await TakeAddedAsync(token);
                    foreach (var (taskId, reader) in _readers)
                    {
                        await SendNewAsync(taskId, reader, token);
                    }

                    await FlushAsync(close: false, token);
                }
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                // Closed by the broker, or the stream to it ended.
            }
            catch (RpcException e) when (e.StatusCode is StatusCode.NotFound or StatusCode.Cancelled)
            {
                LogSubscriptionGone(_agent._logger, _id, e.Status.Detail);
            }
            catch (Exception e)
            {
                LogServeFailed(_agent._logger, _id, Describe(e));
            }
            finally
            {
                Interlocked.Decrement(ref _agent._activeSubscriptions);
                _stop.Dispose();
            }
        }

        private async Task TakeAddedAsync(CancellationToken cancellationToken)
        {
            while (_added.TryDequeue(out var taskId))
            {
                if (!_known.Add(taskId))
                {
                    continue;
                }

                if (!IsTaskId(taskId))
                {
                    LogBadTaskId(_agent._logger, _id, taskId);
                    continue;
                }

                var reader = new TaskLogReader(Path.Combine(_agent._tasksDirectory, taskId), _options.Streams);
                _readers.Add((taskId, reader));
                await SendHistoryAsync(taskId, reader, cancellationToken);
            }
        }

        /// <summary>What the task's files hold now: all of it, or its last <c>tail</c> lines.</summary>
        private async Task SendHistoryAsync(string taskId, TaskLogReader reader, CancellationToken cancellationToken)
        {
            if (_options.Tail < 0)
            {
                await SendNewAsync(taskId, reader, cancellationToken);
                return;
            }

            var last = new Queue<LogLine>();
            var lines = new List<LogLine>();
            while (true)
            {
                lines.Clear();
                if (reader.Read(lines, _agent._options.MaxLinesPerPublish) == 0)
                {
                    break;
                }

                foreach (var line in lines.Where(Selected))
                {
                    last.Enqueue(line);
                    if (last.Count > _options.Tail)
                    {
                        last.Dequeue();
                    }
                }
            }

            foreach (var line in last)
            {
                await AddAsync(taskId, line, cancellationToken);
            }
        }

        private async Task SendNewAsync(string taskId, TaskLogReader reader, CancellationToken cancellationToken)
        {
            var lines = new List<LogLine>();
            while (true)
            {
                lines.Clear();
                if (reader.Read(lines, _agent._options.MaxLinesPerPublish) == 0)
                {
                    return;
                }

                foreach (var line in lines.Where(Selected))
                {
                    await AddAsync(taskId, line, cancellationToken);
                }
            }
        }

        private bool Selected(LogLine line) => (_since is not { } since || line.Timestamp >= since) && (_until is not { } until || line.Timestamp < until);

        private async Task AddAsync(string taskId, LogLine line, CancellationToken cancellationToken)
        {
            _batch.Add(new LogMessage
            {
                Context = new LogContext { TaskId = taskId, NodeId = _agent._security.NodeId },
                Timestamp = Timestamp.FromDateTimeOffset(line.Timestamp),
                Stream = line.Stream,
                Data = UnsafeByteOperations.UnsafeWrap(line.Data),
            });
            _batchBytes += line.Data.Length;
            if (_batch.Count >= _agent._options.MaxLinesPerPublish || _batchBytes >= _agent._options.MaxBytesPerPublish)
            {
                await FlushAsync(close: false, cancellationToken);
            }
        }

        private async Task FlushAsync(bool close, CancellationToken cancellationToken)
        {
            if (_batch.Count == 0 && !close)
            {
                return;
            }

            var request = new PublishLogsRequest { SubscriptionId = _id, Close = close };
            request.Messages.AddRange(_batch);
            await _client.PublishLogsAsync(request, cancellationToken: cancellationToken);
            _batch.Clear();
            _batchBytes = 0;
        }
    }
}
