"""BigEarthNet.txt and RSVQAxBEN-style texts generated from reBEN reference maps, and their evaluation.

The journey of this package, one module per step:

* :mod:`~bigearth.text.facts` computes what a reference map says (areas, connected components, boxes, adjacency,
  positions); :mod:`~bigearth.text.context` adds latitude, longitude, country, season and
  :mod:`~bigearth.text.climate` the Köppen-Geiger zone; :mod:`~bigearth.text.facts_table` stores the facts as
  parquet.
* :mod:`~bigearth.text.templates` holds the wording; :mod:`~bigearth.text.captions`,
  :mod:`~bigearth.text.questions` and :mod:`~bigearth.text.referring` turn facts into texts, balanced by
  :mod:`~bigearth.text.balance`; :mod:`~bigearth.text.rsvqa` makes RSVQAxBEN-style questions from the labels and
  :mod:`~bigearth.text.rsvqa_import` reads the original RSVQAxBEN question files.
* :mod:`~bigearth.text.generate` runs it over a data set (:mod:`~bigearth.parallel`: processes or Dask)
  and writes the parquet files whose columns :mod:`~bigearth.text.schema` defines, resumably
  (:mod:`~bigearth.text.parts`).
* :mod:`~bigearth.text.reader` reads text files (released values, earlier values with a warning, in batches),
  :mod:`~bigearth.text.answers` parses predictions, :mod:`~bigearth.text.metrics` scores boxes and
  :mod:`~bigearth.text.caption_metrics` captions (as pycocoevalcap, batch by batch),
  :mod:`~bigearth.text.baselines` makes the majority and random predictions, :mod:`~bigearth.text.evaluate`
  reports per type and category and :mod:`~bigearth.text.stats` describes a text file.
"""
