"""Extended Isolation Forest scoring as a UWS job kind; its input is selected by ADQL.

What lives where:

- ``forest.py``: the algorithm (Hariri, Carrasco Kind & Brunner 2021): fit on samples, trees as flat
  heap-ordered arrays, scoring by a compiled level-by-level descent. Pure numpy + numba, no I/O.
- ``sample.py``: the training sample (NTREES x SAMPLE_SIZE rows chosen by a seeded hash of each row,
  not by position), so the forest is the same whatever order an engine returns the rows in.
- ``model.py``: a fitted model (forest, feature names, standardisation) and its file format
  ``skygate-eif`` version 1 (``.npz`` with a JSON header; documented there).
- ``params.py``: the job parameters (QUERY, ID_COLUMN, NTREES, SAMPLE_SIZE, EXTENSION_LEVEL, SEED,
  STANDARDIZE, TOP, RESPONSEFORMAT, MODEL, NULL_VALUES) parsed into a value; unknown names are listed
  and warned about in the results, not refused. NULL_VALUES is ``survey`` (default: the sentinels 99,
  -99, 999 and -999 the release writes for "not measured" are missing values, and so is the null value
  a feature column's metadata declares, ``Column.null``, in that column), ``none`` (score them as
  numbers, e.g. to find dropouts) or a comma-separated list of numbers.
- ``memory.py``: the memory a job needs, estimated from NTREES, SAMPLE_SIZE, the features and the rows;
  a job over ``SKYGATE_WORKER_MEMORY`` is refused when it is asked to run, and again once its rows are known.
- ``service.py``: selection -> features (NULL/NaN and NULL_VALUES rows skipped and counted apart), fit,
  ranks, result tables, ``scores.png``.
- ``jobs.py``: the ``anomaly.score`` job kind and the ``anomaly.score.chunk`` kind that spreads scoring
  of large selections over the workers.
- ``spark.py``: the ``anomaly.score`` job when the release is served by Spark: the selection stays in
  Spark, the executors select, sample and score it (``mapInArrow``), the scores go to Parquet, and
  the results are the local path's.
- ``routes.py``: ``/anomaly/async`` (UWS), ``/anomaly/availability``, ``/anomaly/capabilities``.
- ``fidelity.py``: the paper's test data and the statistics the tests and the benchmark report.

Why our own implementation rather than a library (figures from tests/anomaly and
benchmarks/anomaly.py on these 2-core machines): the descent loop scores 1 M x 10 rows with 200 trees
at 8-14 us per row per core when the machine is quiet (isotree 0.6 extended: 32-47 us, the authors'
``eif`` 2.0.2: 50-70 us), bit-identical across threads, processes and chunkings because each projection
is summed in a fixed order; it reproduces ``eif``'s ranks as well as ``eif`` reproduces itself with
another seed (Spearman 0.979 vs 0.977 on the paper's blob) and removes the axis-parallel artefacts
(blob ring anisotropy +0.039 standard vs +0.003 extended; sinusoid pocket contrast +0.016 vs +0.067);
its model is a documented, pickle-free file. isotree is used by the tests and the benchmark only (its
OpenMP threads hang in forked workers); ``eif`` is a test oracle only (it does not build with Cython 3
and fails when SAMPLE_SIZE exceeds the rows).
"""
